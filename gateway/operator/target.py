"""Where the pipeline is, for the operator commands.

In this order:

1. the same ``BLOB_*`` variables a replica reads (``gateway.settings``): BLOB_AUTH_TYPE,
   BLOB_ACCOUNT_URL or BLOB_CONNECTION_STRING, BLOB_DOC_CONTAINER, BLOB_CONFIG_NAME,
   BLOB_MI_CLIENT_ID. With MI, ``DefaultAzureCredential`` picks up ``az login``;
2. ``.dev/stack.json`` in the working directory or a parent: the local pipeline that
   ``make run`` started, so the commands work there with no setup.

Neither: a ``SettingsError`` that says what to set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.cloud.credentials import Endpoint
from gateway.errors import SettingProblem, SettingsError
from gateway.settings import EnvReader, Secret, _blob

STACK_MANIFEST = Path(".dev") / "stack.json"


@dataclass(frozen=True)
class Pipeline:
    """The config container to talk to, and how."""

    endpoint: Endpoint
    container: str
    config_blob: str
    #: For messages: "BLOB_* environment" or the stack.json path.
    found_in: str
    #: Replica URLs when the local pipeline's manifest lists them (for hints only).
    replicas: tuple[str, ...] = ()


def locate(env: Mapping[str, str], cwd: Path | None = None) -> Pipeline:
    """The pipeline from ``env`` (BLOB_*) or the nearest ``.dev/stack.json``; ``SettingsError`` if neither."""
    if env.get("BLOB_CONNECTION_STRING", "").strip() or env.get("BLOB_ACCOUNT_URL", "").strip():
        r = EnvReader(env)
        blob = _blob(r, required=True)
        r.raise_if_any()
        assert blob is not None
        endpoint = Endpoint(blob.auth_type, blob.account_url, blob.connection_string, blob.mi_client_id)
        return Pipeline(endpoint, blob.container, blob.config_blob, "BLOB_* environment")
    manifest = find_manifest(cwd or Path.cwd())
    if manifest is None:
        raise SettingsError(
            [
                SettingProblem(
                    "BLOB_ACCOUNT_URL",
                    "no pipeline found: set BLOB_ACCOUNT_URL (with az login) or BLOB_CONNECTION_STRING as for a replica, "
                    f"or run inside a checkout where `make run` is running ({STACK_MANIFEST})",
                )
            ]
        )
    try:
        info = json.loads(manifest.read_text())
        endpoint = Endpoint("CONNECTION_STRING", None, Secret(str(info["blob_connection_string"])))
        return Pipeline(
            endpoint,
            str(info.get("container", "litellm-config")),
            str(info.get("config_blob", "config.yaml")),
            str(manifest),
            tuple(info.get("replicas", [])),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SettingsError([SettingProblem(str(manifest), f"unreadable local pipeline manifest: {exc}")]) from exc


def find_manifest(start: Path) -> Path | None:
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / STACK_MANIFEST
        if candidate.is_file():
            return candidate
    return None
