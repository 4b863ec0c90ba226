"""Item 9: an upload stored with Content-Encoding: gzip is decoded with the size cap, never inflated whole."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
from azure.storage.blob import ContentSettings

from gateway.validation.content_encoding import DecodedTooLarge
from tests.publisher.stack import Harness

CONFIG = b"model_list:\n  - model_name: m\n    litellm_params: {model: openai/m, mock_response: hi}\n"


def _upload_gzip(harness: Harness, body: bytes) -> str:
    client = harness.container.upload_blob(
        "config.yaml", gzip.compress(body, compresslevel=9), overwrite=True,
        content_settings=ContentSettings(content_encoding="gzip"),
    )
    return client.get_blob_properties().etag


def test_gzip_bomb_is_refused_within_the_cap(harness: Harness) -> None:
    """A ~64 KiB gzip of 64 MiB (Azurite, real SDK) is refused; the publisher's memory grows by about the cap, not 64 MiB."""
    etag = _upload_gzip(harness, b"#" * (64 * 1024 * 1024))
    tracemalloc.start()
    try:
        with pytest.raises(DecodedTooLarge, match="once decoded"):
            harness.store.download("config.yaml", etag, max_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"download peaked at {peak:,} bytes"


def test_honest_gzip_upload_is_served_decoded(harness: Harness) -> None:
    """A small gzip-encoded config comes back as its plain bytes."""
    etag = _upload_gzip(harness, CONFIG)
    assert harness.store.download("config.yaml", etag, max_bytes=1024 * 1024) == CONFIG
