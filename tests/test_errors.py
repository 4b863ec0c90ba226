"""Every error the gateway raises on purpose derives from one base, so callers can catch it in one place."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import gateway
from gateway.errors import GatewayError

GATEWAY = Path(gateway.__file__).parent


def _gateway_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages([str(GATEWAY)], prefix="gateway.") if not m.name.endswith("__main__")]


def test_every_exception_class_in_the_package_derives_from_gateway_error() -> None:
    strays = []
    for name in _gateway_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException) and not issubclass(cls, GatewayError):
                strays.append(f"{name}.{cls.__name__}")
    assert strays == []


def test_no_bare_runtime_error_is_raised() -> None:
    offenders = []
    for path in GATEWAY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id in {"RuntimeError", "Exception"}:
                    offenders.append(f"{path.relative_to(GATEWAY.parent)}:{node.lineno}")
    assert offenders == []
