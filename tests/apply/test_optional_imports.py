"""A LiteLLM module that cannot be imported is tried once, not once per request (gateway.apply.optional_imports)."""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.apply import optional_imports


class _Lookups:
    """Counts how often the import system searches for a module (only happens when it is not cached)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        self.counts[name] += 1
        return None


@pytest.fixture
def lookups() -> Iterator[_Lookups]:
    finder = _Lookups()
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)


@pytest.fixture
def broken_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module that fails half-way, like LiteLLM's OTel logger without opentelemetry-sdk."""
    (tmp_path / "gw_test_needs_missing_dep.py").write_text("import gw_test_dependency_not_installed\n")
    (tmp_path / "gw_test_fine_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "gw_test_needs_missing_dep"
    for name in ("gw_test_needs_missing_dep", "gw_test_fine_module"):
        sys.modules.pop(name, None)


def _import_like_litellm(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def test_without_pinning_every_attempt_searches_again(broken_module: str, lookups: _Lookups) -> None:
    for _ in range(5):
        assert _import_like_litellm(broken_module) is False
    assert lookups.counts[broken_module] == 5  # the cost the gateway removes


def test_pinned_module_fails_at_once_without_searching(broken_module: str, lookups: _Lookups) -> None:
    assert optional_imports.pin_unavailable((broken_module, "gw_test_fine_module")) == (broken_module,)
    lookups.counts.clear()
    for _ in range(5):
        assert _import_like_litellm(broken_module) is False
    assert lookups.counts[broken_module] == 0
    assert _import_like_litellm("gw_test_fine_module") is True  # an importable module is left to import normally


def test_litellm_otel_logger_is_tried_once_in_this_environment() -> None:
    """The module named in PER_REQUEST_OPTIONAL really fails here (no opentelemetry-sdk), so pinning it pays."""
    name = optional_imports.PER_REQUEST_OPTIONAL[0]
    sys.modules.pop(name, None)
    try:
        assert optional_imports.pin_unavailable() == (name,)
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)
    finally:
        sys.modules.pop(name, None)
