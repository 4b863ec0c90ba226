"""genai-gateway: a LiteLLM proxy whose config is pushed, validated and applied live.

Pipeline, one module per stage: sources (``gateway.sources``, through the
Azure seam ``gateway.cloud``) announce releases -> ``gateway.judge`` alone
decides (duplicate, stale, relabel, integrity, ``gateway.validation``) and
writes the local file (``gateway.configfile``) atomically -> ``gateway.watcher``
in every worker applies it with ``gateway.apply`` -> ``gateway.status`` reports
it. ``gateway.runtime`` and ``gateway.server`` own the process lifecycle.
"""

import os

# LiteLLM downloads a model price map at import time unless told not to; the
# gateway must start with no network beyond its own dependencies.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
