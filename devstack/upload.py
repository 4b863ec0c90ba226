"""``python -m devstack upload FILE``: what ``az storage blob upload --overwrite`` does, with no ``az``.

Reads the running local pipeline's ``.dev/stack.json`` and uploads FILE as the
config blob, so a newcomer who has only run ``make run`` can push a config.
The real ``az`` path is tested too (tests/e2e/test_pipeline.py).
"""

from __future__ import annotations

import json
from pathlib import Path


def upload(file: Path, *, state_dir: Path) -> str:
    """Upload ``file`` over the stack's config blob; returns the new blob ETag.

    Raises ``SystemExit`` with a message naming the missing file when the stack is not running.
    """
    from azure.storage.blob import BlobClient

    manifest = state_dir / "stack.json"
    if not manifest.exists():
        raise SystemExit(f"{manifest} not found: start the local pipeline with `make run` first")
    if not file.is_file():
        raise SystemExit(f"{file}: no such file")
    info = json.loads(manifest.read_text())
    blob = BlobClient.from_connection_string(info["blob_connection_string"], info["container"], info["config_blob"])
    result = blob.upload_blob(file.read_bytes(), overwrite=True)
    return str(result["etag"]).strip('"')
