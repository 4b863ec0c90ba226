"""Decode a blob stored with ``Content-Encoding`` without ever holding more than the size cap.

Why: the Blob SDK decompresses ``Content-Encoding: gzip`` on its own, in memory,
after the size check has looked at the *stored* size: a 61 KB upload became
64 MiB in the publisher. Callers therefore download with ``decompress=False``
(the stored bytes are capped by ``max_bytes`` like any upload) and decode here,
in bounded steps: at most ``limit + 1`` decoded bytes are ever produced.
"""

from __future__ import annotations

import zlib

from gateway.errors import ConfigIssue
from gateway.validation.loader import LoadError

#: zlib ``wbits`` per supported encoding (RFC 9110 content codings).
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
_STEP = 64 * 1024


class DecodedTooLarge(LoadError):
    """The decoded content is larger than the limit (only ``limit + 1`` bytes were decoded)."""


def decode(raw: bytes, content_encoding: str | None, *, limit: int, strict: bool = True) -> bytes:
    """The content of ``raw`` per its ``Content-Encoding``; at most ``limit + 1`` decoded bytes are produced.

    ``strict``: raise ``DecodedTooLarge`` past the limit; otherwise return the first ``limit + 1``
    bytes so the validator rejects them with its own size message. Unknown or corrupt encodings
    raise ``LoadError`` naming the encoding.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise LoadError(ConfigIssue("", f"Content-Encoding {content_encoding!r} is not supported: upload the file uncompressed"))
    decoder = zlib.decompressobj(wbits)
    out = bytearray()
    pending = raw
    try:
        while len(out) <= limit:
            chunk = decoder.decompress(pending, min(_STEP, limit + 1 - len(out)))
            out += chunk
            pending = decoder.unconsumed_tail
            if not chunk and not pending:
                break
    except zlib.error as exc:
        raise LoadError(ConfigIssue("", f"Content-Encoding {encoding} but the body is not valid {encoding} data ({exc})")) from exc
    if len(out) > limit:
        if strict:
            raise DecodedTooLarge(
                ConfigIssue("", f"file is over {limit:,} bytes once decoded (Content-Encoding: {encoding}, "
                                f"{len(raw):,} bytes stored); the limit is {limit:,} bytes")
            )
        return bytes(out[: limit + 1])
    return bytes(out)
