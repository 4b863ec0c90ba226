"""Literal secrets in a config are refused: the file lives in Blob Storage and on every replica's disk.

A secret belongs in the replica's environment (or Key Vault behind it) and is
referenced as ``os.environ/NAME``. The check is by key name, so it also catches
secrets nested in ``cache_params`` or ``general_settings``.
"""

from __future__ import annotations

from gateway.errors import ConfigIssue
from gateway.validation.envrefs import PREFIX
from gateway.validation.paths import walk_strings

SECRET_KEYS = frozenset(
    {
        "api_key",
        "client_secret",
        "password",
        "master_key",
        "aws_secret_access_key",
        "azure_ad_token",
        "database_url",
        "redis_password",
        "salt_key",
    }
)
#: Values that are references, not secrets (LiteLLM's workload-identity form ``oidc/file/<path>``).
_NOT_SECRETS = (PREFIX, "oidc/")


def check(config: dict) -> list[ConfigIssue]:
    issues = []
    for path, key, value in walk_strings(config):
        if key is not None and key.lower() in SECRET_KEYS and value and not value.startswith(_NOT_SECRETS):
            issues.append(
                ConfigIssue(
                    path,
                    f"literal secret in {key}: reference it as {PREFIX}NAME instead "
                    "(or set GATEWAY_ALLOW_LITERAL_SECRETS=true for local use)",
                )
            )
    return issues
