"""Item 9: hostile encodings are named (UTF-16 BOM) and compressed uploads are capped while decoding."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from gateway.validation import ValidationOptions, validate
from gateway.validation.content_encoding import DecodedTooLarge, decode
from gateway.validation.loader import LoadError

CONFIG = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/m, mock_response: hi}\n"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (CONFIG.encode("utf-16"), "UTF-16 LE"),  # what Windows PowerShell 5 writes (BOM FF FE)
        (CONFIG.encode("utf-16-be") and b"\xfe\xff" + CONFIG.encode("utf-16-be"), "UTF-16 BE"),
        (CONFIG.encode("utf-32"), "UTF-32 LE"),
        (CONFIG.encode("utf-16-le"), "UTF-16"),  # no BOM: every other byte NUL
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf32-bom", "utf16-no-bom"],
)
def test_utf16_and_utf32_files_are_named_with_the_fix(data: bytes, fragment: str) -> None:
    """Not "binary data": the message names the encoding and says to save the file as UTF-8."""
    report = validate(data, ValidationOptions(mode="publisher"))
    [error] = report.errors
    assert fragment in error.message and "save it as UTF-8" in error.message
    assert "binary" not in error.message


def test_utf8_bom_is_accepted() -> None:
    """A UTF-8 BOM (Notepad) is harmless and stays accepted."""
    assert validate(b"\xef\xbb\xbf" + CONFIG.encode(), ValidationOptions(mode="publisher")).valid


def test_gzip_bomb_is_capped_while_decoding() -> None:
    """A ~64 KiB gzip of 64 MiB is refused after decoding at most limit+1 bytes (memory stays near the limit)."""
    bomb = gzip.compress(b"#" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 128 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(DecodedTooLarge) as caught:
            decode(bomb, "gzip", limit=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"decoding peaked at {peak:,} bytes"
    assert "once decoded (Content-Encoding: gzip" in caught.value.issue.message
    assert len(decode(bomb, "gzip", limit=1024, strict=False)) == 1025


@pytest.mark.parametrize("encoding", ["gzip", "deflate", None, "identity"])
def test_small_encoded_config_decodes_to_the_original(encoding: str | None) -> None:
    """Honest gzip/deflate uploads (and plain ones) come back byte for byte."""
    raw = {"gzip": gzip.compress, "deflate": zlib.compress}.get(encoding or "", lambda b: b)(CONFIG.encode())
    assert decode(raw, encoding, limit=1024 * 1024) == CONFIG.encode()


def test_unknown_or_corrupt_encoding_is_named() -> None:
    """br is not supported; a body that is not gzip says so."""
    with pytest.raises(LoadError, match="Content-Encoding 'br' is not supported"):
        decode(b"x", "br", limit=100)
    with pytest.raises(LoadError, match="not valid gzip data"):
        decode(b"not gzip", "gzip", limit=100)
