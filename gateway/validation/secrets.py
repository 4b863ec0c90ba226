"""Literal secrets in a config are refused: the file lives in Blob Storage and on every replica's disk.

A secret belongs in the replica's environment (or Key Vault behind it) and is
referenced as ``os.environ/NAME``. Two checks, over every string in the document
(``environment_variables``, ``cache_params``, callbacks' settings included):

* by key name: ``api_key``, ``client_secret``, ``aws_access_key_id``,
  ``vertex_credentials``, ``langfuse_secret`` ... and any key ending in ``_secret``,
  ``_password``, ``_api_key``, ``_access_key``, ``_private_key`` or ``_token``;
* by value shape (``gateway.secret_shapes``): provider key prefixes, connection
  strings with ``AccountKey=``/``SharedAccessKey=``, URL userinfo with a password
  (a Redis URL), PEM blocks, long high-entropy tokens.

``GATEWAY_ALLOW_LITERAL_SECRETS=true`` turns both off for local use. Errors never
echo the value; ``redacted`` makes sure no other check's message does either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.errors import ConfigIssue
from gateway.redact import scrub
from gateway.secret_shapes import secret_shape
from gateway.validation.envrefs import PREFIX
from gateway.validation.paths import walk_strings

SECRET_KEYS = frozenset(
    {
        "api_key",
        "client_secret",
        "password",
        "master_key",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "azure_ad_token",
        "database_url",
        "redis_password",
        "salt_key",
        "vertex_credentials",
        "langfuse_secret",
        "langfuse_secret_key",
        "secret",
        "token",
        "credentials",
        "private_key",
        "connection_string",
    }
)
_SECRET_SUFFIX = re.compile(r"_(secret|secret_key|password|passwd|api_key|access_key|private_key|token|credentials|connection_string)$")
#: Values that are references, not secrets (LiteLLM's workload-identity form ``oidc/file/<path>``).
_NOT_SECRETS = (PREFIX, "oidc/")
_HINT = f"reference it as {PREFIX}NAME instead (or set GATEWAY_ALLOW_LITERAL_SECRETS=true for local use)"


def is_secret_key(key: str) -> bool:
    """Whether a YAML key names a field that holds a secret."""
    name = key.lower()
    return name in SECRET_KEYS or bool(_SECRET_SUFFIX.search(name))


def _is_reference(value: str) -> bool:
    return value.startswith(_NOT_SECRETS)


def _is_path(key: str, value: str) -> bool:
    """``vertex_credentials: /secrets/sa.json`` names a file on the replica, not a secret."""
    return key.lower().endswith("credentials") and value.startswith("/") and "\n" not in value and "{" not in value


def check(config: dict) -> list[ConfigIssue]:
    """One error per string that is a literal secret, by the key it sits under or by its shape."""
    issues = []
    for path, key, value in walk_strings(config):
        if not value or _is_reference(value):
            continue
        if key is not None and is_secret_key(key) and not _is_path(key, value):
            issues.append(ConfigIssue(path, f"literal secret in {key}: {_HINT}"))
        elif (shape := secret_shape(value)) is not None:
            issues.append(ConfigIssue(path, f"literal secret: the value looks like {shape}; {_HINT}"))
    return issues


def secret_values(config: Any) -> tuple[str, ...]:
    """Every literal value in ``config`` that is a secret by key or by shape (to keep out of messages)."""
    if not isinstance(config, Mapping):
        return ()
    return tuple(
        value
        for _path, key, value in walk_strings(config)
        if value and not _is_reference(value) and ((key is not None and is_secret_key(key)) or secret_shape(value))
    )


def redacted(issues: Iterable[ConfigIssue], config: Any) -> tuple[ConfigIssue, ...]:
    """``issues`` with every secret value of ``config``, and anything secret-shaped, shown as a preview."""
    known = secret_values(config)
    return tuple(ConfigIssue(scrub(i.path, known), scrub(i.message, known)) for i in issues)
