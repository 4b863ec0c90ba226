"""genai-gateway: a LiteLLM proxy whose config is pushed, validated and applied live.

Pipeline, one module per stage: sources (``gateway.sources``) produce a
``Release`` -> ``gateway.validation`` judges it -> ``gateway.sync`` writes the
local file atomically -> ``gateway.watcher`` in every worker applies it with
``gateway.apply`` -> ``gateway.status`` reports it. ``gateway.runtime`` and
``gateway.server`` own the process lifecycle.
"""

import os

# LiteLLM downloads a model price map at import time unless told not to; the
# gateway must start with no network beyond its own dependencies.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
