"""Apply a validated config to the LiteLLM proxy running in this process.

This is the only module that touches LiteLLM's proxy internals. LiteLLM has no
live reload (FACTS.md), and its ``ProxyConfig.load_config`` is the wrong tool
for one: it runs on the event loop (~5.5 ms per deployment), appends callbacks
on every call, never turns a cache off, and leaves removed ``litellm_settings``
keys at their old values. So an apply here is:

1. *prepare*, in a worker thread: resolve ``os.environ/`` references, bind
   per-deployment identities, build the new ``Router`` and response cache;
2. *commit*, on the event loop under one lock, with no awaits: reset the
   ``litellm`` module settings the previous config set, install the new ones and
   the new callbacks, then swap ``llm_router`` / ``llm_model_list`` (requests
   read ``llm_router`` once, so in-flight ones finish on the router they began
   with) and ``discard()`` the old router.

If *prepare* fails nothing has changed; *commit* cannot fail half-way on
anything but a bug, and then the old globals are restored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from gateway.apply import health_auth
from gateway.apply.retire import RetiredRouters
from gateway.cache.responses import ResponseCaches
from gateway.errors import ApplyError
from gateway.release import Release
from gateway.validation import envrefs, envsection, unenforced
from gateway.validation import master_key as key_rule
from gateway.validation.semantics import deployment_for_router, router_setting_names

log = logging.getLogger(__name__)

_MISSING = object()
#: litellm_settings keys handled by dedicated code instead of ``setattr(litellm, key, value)``.
_SPECIAL_SETTINGS = frozenset({"cache", "cache_params", "callbacks", "success_callback", "failure_callback"})
#: LiteLLM's module-level callback lists (the applier swaps what a config put there; tests check none grows).
CALLBACK_LISTS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "input_callback",
    "service_callback",
)

#: Turns deployments (env already resolved) into what the Router gets; identities are bound here.
DeploymentBinder = Callable[[list[dict[str, Any]], dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class ApplyResult:
    """What one apply did, for the health endpoint and the logs."""

    version: str
    sha256: str
    origin: str
    deployments: int
    model_groups: tuple[str, ...]
    prepare_ms: float
    commit_ms: float
    cache_flushed: bool
    warnings: tuple[str, ...] = ()
    #: Which key authenticates requests (``LITELLM_MASTER_KEY`` or the config's reference); never the key.
    master_key_source: str = ""


@dataclass
class _Plan:
    """Everything built off the event loop, ready to be swapped in."""

    router: Any
    model_list: list[dict[str, Any]]
    litellm_settings: dict[str, Any]
    general_settings: dict[str, Any]
    cache: Any
    cache_key: str | None
    fingerprint: str
    warnings: list[str] = field(default_factory=list)
    master_key_source: str = ""


def _identity_binder(model_list: list[dict[str, Any]], _litellm_settings: dict[str, Any]) -> list[dict[str, Any]]:
    return model_list


class ProxyApplier:
    """Serialised, versioned applies of configs to this worker's LiteLLM proxy globals."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        bind_deployments: DeploymentBinder = _identity_binder,
        caches: ResponseCaches | None = None,
        gateway_callbacks: Callable[[], tuple[Any, ...]] = tuple,
    ) -> None:
        self._env = env
        self._bind = bind_deployments
        self._caches = caches or ResponseCaches()
        self._gateway_callbacks = gateway_callbacks
        self._lock = asyncio.Lock()
        self._defaults: dict[str, Any] = {}
        self._settings_keys: set[str] = set()
        #: LiteLLM's own general_settings before any config: what a key removed from the config returns to.
        self._general_baseline: dict[str, Any] | None = None
        self._user_callback_ids: set[int] = set()
        self._gateway_installed: tuple[Any, ...] = ()
        self._fingerprint: str | None = None
        self._cache_key: str | None = None
        #: Frees LiteLLM's global entries for retired Routers' deployments (memory soak, issue 8 item 11).
        self._retired = RetiredRouters()

    async def apply(self, release: Release, config: dict[str, Any]) -> ApplyResult:
        """Apply one validated config; raise ``ApplyError`` and keep the previous one live on failure."""
        async with self._lock:
            started = time.perf_counter()
            try:
                plan = await asyncio.to_thread(self._prepare, config)
            except Exception as exc:
                issues = getattr(exc, "issues", ())  # identity binding names each deployment
                raise ApplyError(release.version, f"{type(exc).__name__}: {exc}", issues) from exc
            prepared = time.perf_counter()
            await self._caches.activate(plan.cache)
            old_cache = self._current_cache()
            old_router = self._current_router()
            try:
                flushed = self._commit(plan, release)
            except ApplyError:
                if plan.cache is not old_cache:
                    await self._caches.retire(plan.cache, keep=old_cache)
                raise
            done = time.perf_counter()
            if old_cache is not plan.cache:
                await self._caches.retire(old_cache, keep=plan.cache)
            await self._retired.retire(old_router)
            del old_router
        result = ApplyResult(
            version=release.version,
            sha256=release.sha256,
            origin=release.origin,
            deployments=len(plan.model_list),
            model_groups=tuple(sorted({d["model_name"] for d in plan.model_list})),
            prepare_ms=(prepared - started) * 1000,
            commit_ms=(done - prepared) * 1000,
            cache_flushed=flushed,
            warnings=tuple(plan.warnings),
            master_key_source=plan.master_key_source,
        )
        log.info(
            "applied release %s (%d deployments, groups %s) prepare=%.1fms commit=%.2fms",
            result.version,
            result.deployments,
            ",".join(result.model_groups),
            result.prepare_ms,
            result.commit_ms,
        )
        return result

    # -- prepare: worker thread, touches no shared state ---------------------------------

    def _prepare(self, config: dict[str, Any]) -> _Plan:
        import litellm
        from litellm.types.router import RouterGeneralSettings

        resolved = envrefs.resolve(config, envsection.effective_env(config, self._env))
        litellm_settings = dict(resolved.get("litellm_settings") or {})
        entries = resolved["model_list"]
        model_list = self._bind(entries, litellm_settings)
        model_list = [deployment_for_router(e) for e in model_list]
        fingerprint = _fingerprint([e for e in config["model_list"]])

        cache = None
        cache_key = None
        if litellm_settings.get("cache") is True:
            params = dict(litellm_settings.get("cache_params") or {})
            cache_key = json.dumps(params, sort_keys=True, default=str)
            same_cache = cache_key == self._cache_key and fingerprint == self._fingerprint
            if same_cache and litellm.cache is not None:
                cache = litellm.cache
            else:
                cache = self._caches.build(params, fingerprint, reuse=litellm.cache)

        router_settings = resolved.get("router_settings") or {}
        known = router_setting_names()
        from gateway.apply.failover import FailoverRouter  # imports LiteLLM: lazily, like this method

        # A retry never goes back to a deployment that already failed for the same request (issue 8, item 10).
        router = FailoverRouter(
            model_list=model_list,
            cache_responses=cache is not None,
            router_general_settings=RouterGeneralSettings(async_only_mode=True),
            ignore_invalid_deployments=False,
            **{k: v for k, v in router_settings.items() if k in known},
        )
        # Settings LiteLLM would accept and not enforce never get this far: validation refuses them
        # (gateway.validation.unenforced), so an apply has nothing to warn about.
        warnings: list[str] = []
        return _Plan(
            router=router,
            model_list=[dict(d) for d in router.get_model_list() or []],
            litellm_settings=litellm_settings,
            general_settings=dict(resolved.get("general_settings") or {}),
            cache=cache,
            cache_key=cache_key,
            fingerprint=fingerprint,
            warnings=warnings,
            master_key_source=key_rule.source(config),
        )

    # -- commit: event loop, no awaits ---------------------------------------------------

    @staticmethod
    def _current_cache() -> Any:
        import litellm

        return litellm.cache

    @staticmethod
    def _current_router() -> Any:
        from litellm.proxy import proxy_server as ps

        return ps.llm_router

    def _commit(self, plan: _Plan, release: Release) -> bool:
        import litellm
        from litellm.proxy import proxy_server as ps

        old_router, old_model_list, old_cache = ps.llm_router, ps.llm_model_list, litellm.cache
        try:
            self._apply_settings(plan.litellm_settings)
            flushed = plan.cache is not litellm.cache and litellm.cache is not None
            litellm.cache = plan.cache
            self._apply_callbacks(plan.litellm_settings)
            self._apply_general_settings(plan.general_settings)
            ps.llm_router = plan.router
            ps.llm_model_list = plan.model_list
        except Exception as exc:
            ps.llm_router, ps.llm_model_list, litellm.cache = old_router, old_model_list, old_cache
            plan.router.discard()
            raise ApplyError(release.version, f"commit failed: {exc}") from exc
        self._fingerprint = plan.fingerprint
        self._cache_key = plan.cache_key
        if old_router is not None:
            old_router.discard()
        return flushed

    def _apply_settings(self, settings: dict[str, Any]) -> None:
        """Set ``litellm.<key>`` for the new config and put keys it no longer has back to their defaults."""
        import litellm

        wanted = {k: v for k, v in settings.items() if k not in _SPECIAL_SETTINGS}
        for key in self._settings_keys - wanted.keys():
            default = self._defaults.get(key, _MISSING)
            if default is _MISSING:
                if hasattr(litellm, key):
                    delattr(litellm, key)
            else:
                setattr(litellm, key, default)
        for key, value in wanted.items():
            if key not in self._defaults:
                self._defaults[key] = getattr(litellm, key, _MISSING)
            setattr(litellm, key, value)
            if key == "request_timeout":
                litellm.request_timeout_explicitly_set = True
        if "request_timeout" not in wanted and "request_timeout" in self._settings_keys:
            litellm.request_timeout_explicitly_set = False
        self._settings_keys = set(wanted)

    def _apply_callbacks(self, settings: dict[str, Any]) -> None:
        """Replace the callbacks the previous config added; the proxy's and routers' own stay."""
        import litellm
        from litellm.proxy.common_utils.callback_utils import initialize_callbacks_on_proxy
        from litellm.proxy.proxy_server import premium_user
        from litellm.proxy.types_utils.utils import get_instance_fn

        for name in CALLBACK_LISTS:
            entries = getattr(litellm, name)
            entries[:] = [cb for cb in entries if id(cb) not in self._user_callback_ids]
        before = {id(cb) for name in CALLBACK_LISTS for cb in getattr(litellm, name)}
        if settings.get("callbacks"):
            initialize_callbacks_on_proxy(
                value=settings["callbacks"],
                premium_user=premium_user,
                config_file_path=None,  # type: ignore[arg-type]  # None forbids s3:// module loading
                litellm_settings=settings,
            )
        manager = litellm.logging_callback_manager
        for key, add in (
            ("success_callback", manager.add_litellm_success_callback),
            ("failure_callback", manager.add_litellm_failure_callback),
        ):
            for callback in settings.get(key) or []:
                add(get_instance_fn(value=callback) if isinstance(callback, str) and "." in callback else callback)
        # The gateway's own hooks are installed only while a deployment needs them: any CustomLogger in
        # litellm.callbacks makes LiteLLM build its logging payload on every request.
        wanted = self._gateway_callbacks()
        for callback in self._gateway_installed:
            if all(callback is not w for w in wanted):
                litellm.callbacks[:] = [cb for cb in litellm.callbacks if cb is not callback]
        for callback in wanted:
            if all(callback is not cb for cb in litellm.callbacks):
                manager.add_litellm_callback(callback)
        self._gateway_installed = wanted
        # GET /health probes deployments without the Router: give them the same hooks (health_auth).
        health_auth.install(lambda: self._gateway_installed)
        self._user_callback_ids = {
            id(cb)
            for name in CALLBACK_LISTS
            for cb in getattr(litellm, name)
            if id(cb) not in before and all(cb is not w for w in wanted)
        }

    def _apply_general_settings(self, settings: dict[str, Any]) -> None:
        from litellm.proxy import proxy_server as ps
        from litellm.proxy.utils import hash_token

        # One key authenticates: the config's (LiteLLM's precedence), else LITELLM_MASTER_KEY again
        # once a config stops naming one. Validation already refused a weak one (key_rule).
        key = settings.get("master_key") or self._env.get("LITELLM_MASTER_KEY")
        if isinstance(key, str) and key and key != ps.master_key:
            ps.master_key = key
            ps.litellm_master_key_hash = hash_token(key)
        # A live apply must equal a fresh start: the dict becomes LiteLLM's own defaults plus this config's
        # keys, so a key the config no longer has (enforce_user_param ...) is gone, not left at its old value.
        # Replaced in place: LiteLLM modules hold references to this dict object.
        if self._general_baseline is None:
            self._general_baseline = dict(ps.general_settings)
        wanted = {**self._general_baseline, **{k: v for k, v in settings.items() if k not in unenforced.GENERAL_SETTINGS}}
        ps.general_settings.clear()
        ps.general_settings.update(wanted)


def _fingerprint(model_list: list[dict[str, Any]]) -> str:
    """Identify the deployment set, so a changed one flushes cached responses."""
    return hashlib.sha256(json.dumps(model_list, sort_keys=True, default=str).encode()).hexdigest()


def proxy_lifespan(master_key: str) -> AbstractAsyncContextManager[Any]:
    """Enter LiteLLM's own startup/shutdown with no config file: our applier owns the router.

    Without ``CONFIG_FILE_PATH`` LiteLLM boots with no router (FACTS.md); the
    gateway keeps its routes closed until the first apply. LiteLLM's boot check
    reads the master key from ``LITELLM_MASTER_KEY``, so it is set here.
    """
    import os

    from litellm.proxy import proxy_server as ps

    os.environ.pop("CONFIG_FILE_PATH", None)
    os.environ.pop("WORKER_CONFIG", None)
    os.environ["LITELLM_MASTER_KEY"] = master_key
    return ps.app.router.lifespan_context(ps.app)


def proxy_app() -> Any:
    from litellm.proxy import proxy_server as ps

    from gateway.apply import optional_imports

    optional_imports.pin_unavailable()
    return ps.app
