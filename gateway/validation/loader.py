"""Turn untrusted bytes into a YAML document, or say precisely why not.

``yaml.safe_load`` alone is not enough for a file anyone with blob write access
can upload: it accepts duplicate keys (the last one silently wins), expands
alias bombs until the process runs out of memory, and its errors do not say
which key is duplicated. This loader composes the node graph first (aliases are
still shared there, so measuring the expanded size is cheap), checks it, and
only then constructs Python objects.
"""

from __future__ import annotations

from typing import Any

import yaml

from gateway.errors import ConfigIssue, GatewayError

#: A document whose aliases expand to more nodes than this is treated as an alias bomb.
MAX_EXPANDED_NODES = 200_000


class LoadError(GatewayError):
    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def decode(data: bytes, *, max_bytes: int) -> str:
    """Check size and encoding before the YAML parser sees anything."""
    if len(data) > max_bytes:
        raise LoadError(ConfigIssue("", f"file is {len(data):,} bytes; the limit is {max_bytes:,} bytes"))
    if not data.strip():
        raise LoadError(ConfigIssue("", "file is empty: expected a LiteLLM config with a model_list"))
    encoding = _wide_encoding(data)
    if encoding is not None:
        raise LoadError(
            ConfigIssue("", f"file is {encoding} (as Windows PowerShell writes it with > or Out-File): "
                            "save it as UTF-8, e.g. Set-Content -Encoding utf8, or 'Save with Encoding: UTF-8'")
        )
    if b"\x00" in data:
        raise LoadError(ConfigIssue("", "file contains NUL bytes: this is binary data, not YAML"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            ConfigIssue("", f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})")
        ) from exc
    return text


#: Byte order marks of the encodings YAML files end up in on Windows (UTF-32 first: it starts like UTF-16 LE).
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 LE (byte order mark FF FE 00 00)"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE (byte order mark 00 00 FE FF)"),
    (b"\xff\xfe", "UTF-16 LE (byte order mark FF FE)"),
    (b"\xfe\xff", "UTF-16 BE (byte order mark FE FF)"),
)


def _wide_encoding(data: bytes) -> str | None:
    """The UTF-16/32 encoding ``data`` is in (by BOM, or by NULs in every other byte), or None."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    sample = data[:512]
    if len(sample) >= 8:
        odd, even = sample[1::2], sample[0::2]
        if odd.count(0) >= len(odd) * 0.9 and even.count(0) == 0:
            return "UTF-16 LE without a byte order mark"
        if even.count(0) >= len(even) * 0.9 and odd.count(0) == 0:
            return "UTF-16 BE without a byte order mark"
    return None


def load_yaml(data: bytes, *, max_bytes: int) -> Any:
    """Parse one YAML document safely; raise ``LoadError`` naming the line or the YAML path."""
    text = decode(data, max_bytes=max_bytes)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise LoadError(ConfigIssue("", "file holds no YAML document: expected a mapping with a model_list"))
        _check_graph(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "malformed YAML"
        raise LoadError(ConfigIssue("", f"YAML syntax error{where}: {what}")) from exc
    except yaml.YAMLError as exc:
        raise LoadError(ConfigIssue("", f"YAML error: {exc}")) from exc
    except RecursionError as exc:
        raise LoadError(ConfigIssue("", "YAML nesting is too deep")) from exc
    finally:
        loader.dispose()


def _check_graph(root: yaml.Node) -> None:
    """Reject duplicate keys, recursive aliases and documents whose expansion is too large."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, path: str) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise LoadError(ConfigIssue(path, "recursive YAML alias"))
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                    name = key_node.value
                    if name in seen:
                        raise LoadError(
                            ConfigIssue(
                                _join(path, name),
                                f"duplicate key (first at line {seen[name] + 1}, again at line "
                                f"{key_node.start_mark.line + 1}); the second would silently win",
                            )
                        )
                    seen[name] = key_node.start_mark.line
                    child = _join(path, name)
                else:
                    child = path
                total += size(key_node, child) + size(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                total += size(item, f"{path}[{index}]")
        active.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise LoadError(
                ConfigIssue(path, f"aliases expand to more than {MAX_EXPANDED_NODES:,} nodes (YAML alias bomb)")
            )
        return total

    size(root, "")


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)
