"""``genai-gateway``: the one console script.

    genai-gateway serve [--config FILE]     run a replica (blob/Service Bus source, or a local file)
    genai-gateway validate FILE             judge a config the way the Function and the replicas do
    genai-gateway sync                      the pod's writer alone (used by serve --workers N)
    genai-gateway status | push FILE [--wait] | diff FILE | history | rollback [VERSION]
                                            the operator's view of the pipeline (gateway.operator)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.errors import SettingsError
from gateway.settings import Secret, Settings
from gateway.supply_chain import SupplyChainError, guard_replica

log = logging.getLogger("gateway")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genai-gateway", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run a gateway replica")
    serve.add_argument("--config", type=Path, help="serve this local file and pick up its edits (no Blob Storage)")
    serve.add_argument("--host", help="bind address (default LITELLM_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default LITELLM_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default GATEWAY_WORKERS or 1)")

    check = sub.add_parser("validate", help="validate a config file; exit 0 if valid, 1 if not")
    check.add_argument("file", type=Path)
    check.add_argument("--mode", choices=("replica", "publisher"), default="replica")
    check.add_argument("--json", action="store_true", help="print {valid, errors[{path, message}]} as JSON")
    check.add_argument("--allow-env", default=None, help="publisher mode: comma-separated env names configs may use")
    check.add_argument("--allow-literal-secrets", action="store_true")

    sync = sub.add_parser("sync", help="run only the pod's config writer (sources -> validate -> local file)")
    sync.add_argument("--config", type=Path)

    from gateway.operator import commands as operator

    operator.add_parsers(sub)  # status, push, diff, history, rollback
    sub.add_parser("schema", help="print the JSON Schema of config.yaml (for yaml-language-server)")

    args = parser.parse_args(argv)
    _configure_logging()
    if args.command in operator.COMMANDS:
        return operator.run(args)
    if args.command == "schema":
        from gateway.schema import render

        sys.stdout.write(render())
        return 0
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "sync":
            return _sync(args)
    except (SettingsError, SupplyChainError) as exc:
        print(f"genai-gateway: {exc}", file=sys.stderr)
        return 2
    return 2


def _configure_logging() -> None:
    from gateway import logs

    logs.configure(os.environ)  # one handler per record, no per-request LiteLLM INFO lines (item 12)


def _validate(args: argparse.Namespace) -> int:
    from gateway.validation import ValidationOptions, validate

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"genai-gateway validate: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    allowed = frozenset(n.strip() for n in args.allow_env.split(",") if n.strip()) if args.allow_env else None
    options = ValidationOptions(
        mode=args.mode,
        env=dict(os.environ),
        allowed_env=allowed,
        allow_literal_secrets=args.allow_literal_secrets,
    )
    report = validate(data, options)
    if args.json:
        print(json.dumps({"file": str(args.file), **report.as_dict()}, indent=2))
    else:
        for issue in report.errors:
            print(f"{args.file}: error: {issue}")
        for issue in report.warnings:
            print(f"{args.file}: warning: {issue}")
        print(f"{args.file}: {'valid' if report.valid else f'invalid ({len(report.errors)} error(s))'}")
    return 0 if report.valid else 1


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env(os.environ, local_config=getattr(args, "config", None))
    overrides = {
        name: value
        for name, value in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None)), ("workers", getattr(args, "workers", None)))
        if value is not None
    }
    return dataclasses.replace(settings, **overrides) if overrides else settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    guard_replica()  # before any credential is read: the environment must be the locked one
    settings = _settings(args)
    if settings.master_key is None and settings.source == "file" and settings.local_config is not None:
        named = _configured_master_key(settings.local_config)
        if named is None:
            settings = _local_master_key(settings)
        else:  # the config's key would override a generated one: never print a key that does not work
            print(f"\n  Master key: {named} in {settings.local_config}\n", flush=True)
    if settings.workers == 1:
        from gateway import heap
        from gateway.runtime import GatewayRuntime
        from gateway.server import GatewayApp

        app = GatewayApp(GatewayRuntime(settings))
        heap.freeze_startup_heap()  # LiteLLM is imported now, no config applied yet
        uvicorn.Server(_uvicorn_config(app, settings)).run()
        return 0
    # Several workers: one writer process, N appliers watching the same file.
    if settings.local_config is not None:
        os.environ["GATEWAY_CONFIG_SOURCE"] = "file"
        os.environ["GATEWAY_CONFIG_FILE"] = str(settings.local_config)
    writer = subprocess.Popen([sys.executable, "-m", "gateway", "sync"])
    try:
        uvicorn.run(
            "gateway.server_factory:create_worker_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            timeout_graceful_shutdown=30,
            log_level="info",
            **_uvicorn_log_config(),
        )
    finally:
        writer.terminate()
        writer.wait(timeout=15)
    return 0


def _uvicorn_config(app: Any, settings: Settings) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        timeout_graceful_shutdown=30,
        log_level="info",
        access_log=os.environ.get("GATEWAY_ACCESS_LOG", "false").lower() == "true",
        **_uvicorn_log_config(),
    )


def _uvicorn_log_config() -> dict[str, Any]:
    """JSON logs: uvicorn keeps no handlers of its own, its lines go through the root (JSON) handler."""
    from gateway import logs

    return {"log_config": None} if logs.log_format(os.environ) == "json" else {}


def _configured_master_key(path: Path) -> str | None:
    """Where ``path`` takes its master key from (``general_settings.master_key (os.environ/X)``), or None."""
    from gateway.validation import master_key
    from gateway.validation.loader import LoadError, load_yaml

    try:
        config = load_yaml(path.read_bytes(), max_bytes=64 * 1024 * 1024)
    except (OSError, LoadError):
        return None  # the replica reports the broken file itself
    if not isinstance(config, dict) or master_key.configured(config) is None:
        return None
    return master_key.source(config)


def _local_master_key(settings: Settings) -> Settings:
    """Local use only: generate a master key, print it once, and show the OpenAI SDK call."""
    key = "sk-" + secrets.token_hex(24)
    os.environ["LITELLM_MASTER_KEY"] = key
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(
        "\n"
        "  No LITELLM_MASTER_KEY set: generated one for this local run (shown once):\n\n"
        f"    {key}\n\n"
        "  Use it with the OpenAI SDK:\n\n"
        "    from openai import OpenAI\n"
        f"    client = OpenAI(base_url=\"http://{host}:{settings.port}/v1\", api_key=\"{key}\")\n"
        "    client.chat.completions.create(model=\"gpt-4\", messages=[{\"role\": \"user\", \"content\": \"Hello!\"}])\n\n"
        "  Set LITELLM_MASTER_KEY yourself for anything but local use.\n",
        flush=True,
    )
    return dataclasses.replace(settings, master_key=Secret(key))


def _sync(args: argparse.Namespace) -> int:
    from gateway import heap
    from gateway.runtime import GatewayRuntime
    from gateway.validation import semantics

    guard_replica()
    semantics.router_setting_names()  # import LiteLLM now (validation needs it), so it is frozen with the rest
    heap.freeze_startup_heap()
    settings = _settings(args)
    runtime = GatewayRuntime(settings, role="writer")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        await stop.wait()
        await runtime.stop()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
