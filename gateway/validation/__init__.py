"""One validator for every place that judges a config: the gateway, the Function, the CLI.

The stages run cheapest first and stop at the first stage that fails, because a
later stage cannot say anything useful about a document an earlier one
rejected: bytes -> YAML -> shape -> env references and literal secrets ->
LiteLLM's own checks (providers, router settings, a throwaway Router).

Two modes:

* ``replica``: every ``os.environ/NAME`` must resolve in this process, and the
  Router is built with the real values: what this replica would serve.
* ``publisher``: the Azure Function cannot see the replicas' environment, so
  references are only checked for syntax (and against an optional allow-list)
  and the Router is built with placeholders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.errors import ConfigIssue, ConfigRejected
from gateway.settings import DEFAULT_MAX_CONFIG_BYTES
from gateway.validation import (
    envrefs,
    envsection,
    master_key,
    process_wide,
    references,
    secrets,
    semantics,
    structure,
    trust,
    unenforced,
)
from gateway.validation.loader import LoadError, load_yaml

Mode = Literal["replica", "publisher"]


@dataclass(frozen=True)
class ValidationOptions:
    """How strict to be. Plain values; ``env`` is the environment references resolve against."""

    mode: Mode = "replica"
    env: Mapping[str, str] = field(default_factory=dict)
    allowed_env: frozenset[str] | None = None
    #: ``GATEWAY_ALLOWED_HOSTS`` patterns; None = any host (``gateway.validation.trust``).
    allowed_hosts: tuple[str, ...] | None = None
    allow_literal_secrets: bool = False
    max_bytes: int = DEFAULT_MAX_CONFIG_BYTES
    semantic: bool = True
    require_master_key: bool = False


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one config: errors and warnings with YAML paths, and the parsed document if valid."""

    sha256: str
    errors: tuple[ConfigIssue, ...]
    warnings: tuple[ConfigIssue, ...] = ()
    config: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "sha256": self.sha256,
            "errors": [i.as_dict() for i in self.errors],
            "warnings": [i.as_dict() for i in self.warnings],
        }

    def raise_if_invalid(self, version: str | None) -> dict[str, Any]:
        """Return the parsed config, or raise ``ConfigRejected`` carrying every error."""
        if self.errors or self.config is None:
            raise ConfigRejected(version, self.errors)
        return self.config


def validate(data: bytes, options: ValidationOptions | None = None) -> ValidationReport:
    """Judge one config file's bytes. Synchronous and CPU-bound: call it off the event loop."""
    options = options or ValidationOptions()
    digest = hashlib.sha256(data).hexdigest()

    def verdict(errors: list[ConfigIssue], warnings: list[ConfigIssue] = (), config: Any = None) -> ValidationReport:  # type: ignore[assignment]
        # No message carries a whole secret: values of secret fields and secret-shaped text become previews.
        shown, notes = secrets.redacted(errors, config), secrets.redacted(warnings, config)
        return ValidationReport(digest, shown, notes, config if not errors else None)

    try:
        config = load_yaml(data, max_bytes=options.max_bytes)
    except LoadError as exc:
        return verdict([exc.issue])

    errors, warnings = structure.check(config)
    if errors:
        return verdict(errors, warnings)

    # References resolve against the replica's environment overridden by the config's own
    # environment_variables section, identically in both modes (envsection).
    env = envsection.effective_env(config, options.env)
    defined = envsection.names(config)
    errors = envrefs.check(
        config,
        env={**env, **{name: env.get(name) or "(defined in environment_variables)" for name in defined}}
        if options.mode == "replica"
        else None,
        allowed=options.allowed_env | defined if options.allowed_env is not None else None,
    )
    # Hosts are judged on the values a replica would send to (its references resolved); the publisher
    # sees references unresolved and checks the literal URLs only.
    errors += trust.check_hosts(envrefs.resolve(config, env) if options.mode == "replica" else config, options.allowed_hosts)
    if not options.allow_literal_secrets:
        errors += secrets.check(config)
    errors += envsection.check(config, allow_literal_secrets=options.allow_literal_secrets)
    errors += process_wide.check(config)
    errors += unenforced.check(config)
    errors += references.check(config)
    errors += master_key.check(config, env=env if options.mode == "replica" else None, require=options.require_master_key)
    if errors or not options.semantic:
        return verdict(errors, warnings, config)

    errors = semantics.check_providers(config["model_list"])
    router_settings = config.get("router_settings") or {}
    errors += semantics.check_router_settings(router_settings)
    if errors:
        return verdict(errors, warnings)
    publisher = options.mode == "publisher"
    resolved = envrefs.resolve(config, envsection.values(config) if publisher else env, placeholder=publisher)
    errors = semantics.check_router(
        [semantics.deployment_for_router(e) for e in resolved["model_list"]],
        resolved.get("router_settings") or {},
    )
    return verdict(errors, warnings, config)


__all__ = ["Mode", "ValidationOptions", "ValidationReport", "validate"]
