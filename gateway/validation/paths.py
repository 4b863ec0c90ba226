"""YAML path helpers shared by the rule modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str | None, str]]:
    """Yield ``(path, parent_key, string)`` for every string leaf of a YAML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = join(path, key)
            if isinstance(item, str):
                yield child, str(key), item
            else:
                yield from walk_strings(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            child = join(path, index)
            if isinstance(item, str):
                yield child, None, item
            else:
                yield from walk_strings(item, child)


def deployment_label(config: dict, path: str) -> str:
    """``model_list[3] (gpt-4)`` for a path inside a deployment, else empty."""
    if not path.startswith("model_list["):
        return ""
    index = int(path[len("model_list[") : path.index("]")])
    entries = config.get("model_list") or []
    name = entries[index].get("model_name") if index < len(entries) and isinstance(entries[index], dict) else None
    return f"deployment model_list[{index}]" + (f" ({name})" if name else "")
