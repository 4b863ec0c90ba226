"""Does a string *look* like a secret? Detection by value shape, whatever key it sits under.

Why: a check by key name alone (``api_key``, ``password`` ...) misses a provider key
under ``environment_variables``, ``aws_access_key_id``, ``vertex_credentials``,
``langfuse_secret``, a Redis URL with a password, or a storage connection string
with ``AccountKey=``. These shapes are recognised wherever they appear:

* provider key prefixes (OpenAI/Anthropic ``sk-``, AWS ``AKIA``/``ASIA``, Google
  ``AIza``, GitHub ``ghp_``, Hugging Face ``hf_``, Databricks ``dapi``, Slack ``xox?-``,
  Langfuse ``sk-lf-``, Groq ``gsk_``, xAI ``xai-``, Replicate ``r8_``);
* connection strings carrying ``AccountKey=``, ``SharedAccessKey=``,
  ``SharedAccessSignature=``, ``Password=``/``Pwd=``, and SAS query strings (``sig=``);
* a URL with a password in its userinfo (``redis://:pw@host``, ``https://u:pw@host``);
* PEM blocks (``-----BEGIN ... PRIVATE KEY-----``, certificates with keys);
* long high-entropy tokens: 32+ characters of one token alphabet, either hexadecimal
  of 32-39 digits (an Azure OpenAI key; a sha256 digest is not one) or mixing upper case, lower case and digits with high entropy
  and no word-like run of lower-case letters (ARNs, CamelCase names and paths pass).

Every detector says *what* it saw, never the value, so its name can go into an error.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from urllib.parse import urlsplit

_PREFIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsk-(?:proj-|ant-|lf-|svcacct-)?[A-Za-z0-9_-]{16,}"), "an API key (sk-...)"),
    (re.compile(r"\bpk-lf-[A-Za-z0-9-]{16,}"), "a Langfuse key (pk-lf-...)"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key (AIza...)"),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"), "a GitHub token"),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), "a Hugging Face token (hf_...)"),
    (re.compile(r"\bdapi[0-9a-f]{32}\b"), "a Databricks token (dapi...)"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bgsk_[A-Za-z0-9]{30,}"), "a Groq key (gsk_...)"),
    (re.compile(r"\bxai-[A-Za-z0-9]{30,}"), "an xAI key (xai-...)"),
    (re.compile(r"\br8_[A-Za-z0-9]{30,}"), "a Replicate token (r8_...)"),
)
_CONNECTION = re.compile(
    r"(?:^|[;\s])(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)\s*=\s*[^;\s]+", re.IGNORECASE
)
_SAS = re.compile(r"[?&]sig=[^&\s]{16,}", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*(?:PRIVATE KEY|CERTIFICATE)[A-Z0-9 ]*-----")
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)", re.DOTALL)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9+=_-]{32,}")
#: A run of lower-case letters this long reads as a word (``...ExecutionRole...``); a random token rarely has one.
_WORD = re.compile(r"[a-z]{8,}")
#: An Azure OpenAI key is 32 hex digits; longer hex strings are digests (sha256 of a release), not keys.
_HEX = re.compile(r"[0-9a-fA-F]{32,39}")
#: Bits per character above which a mixed-case alphanumeric token counts as random (English-like
#: identifiers such as ``Meta-Llama-3.1-405B-Instruct-FP8`` stay below; a random key is ~4.5-5).
MIN_ENTROPY = 4.2
#: The same for 32-39 hex digits: ~99% of random 32-hex keys score above it; a publisher version
#: (an Event Grid sequencer, ``000000000000000018ec92f816756d16``: leading zeros) scores ~2.6.
MIN_HEX_ENTROPY = 3.2


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def _high_entropy(token: str) -> bool:
    if _HEX.fullmatch(token):
        return any(c.isdigit() for c in token) and any(c.isalpha() for c in token) and entropy(token) >= MIN_HEX_ENTROPY
    classes = sum((any(c.isupper() for c in token), any(c.islower() for c in token), any(c.isdigit() for c in token)))
    return classes == 3 and entropy(token) >= MIN_ENTROPY and not _WORD.search(token)


def _url_password(text: str) -> bool:
    for match in _URL.finditer(text):
        try:
            parts = urlsplit(match.group(0))
        except ValueError:
            continue
        if parts.password:
            return True
    return False


def secret_shape(text: str) -> str | None:
    """What kind of secret ``text`` contains (e.g. ``"a connection string with AccountKey="``), or None."""
    for pattern, what in _PREFIXES:
        if pattern.search(text):
            return what
    if _PEM.search(text):
        return "a PEM block"
    connection = _CONNECTION.search(text)
    if connection:
        return f"a connection string with {connection.group(1)}="
    if _SAS.search(text):
        return "a SAS token (sig=)"
    if _url_password(text):
        return "a URL with a password"
    for token in _TOKEN.findall(text):
        if _high_entropy(token):
            return "a long random token"
    return None


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Where in ``text`` the secret-shaped parts are (for redaction), as ``(start, end)`` pairs."""
    spans: list[tuple[int, int]] = []
    for pattern, _what in _PREFIXES:
        spans += [m.span() for m in pattern.finditer(text)]
    spans += [m.span() for m in _PEM_BLOCK.finditer(text) if _PEM.search(m.group(0))]
    spans += [(m.start(0) + m.group(0).index("=") + 1, m.end()) for m in _CONNECTION.finditer(text)]
    spans += [(m.start() + 5, m.end()) for m in _SAS.finditer(text)]
    for match in _URL.finditer(text):
        try:
            password = urlsplit(match.group(0)).password
        except ValueError:
            continue
        if password:
            at = match.group(0).find(password)
            if at >= 0:
                spans.append((match.start() + at, match.start() + at + len(password)))
    spans += [m.span() for m in _TOKEN.finditer(text) if _high_entropy(m.group(0))]
    return sorted(spans)
