"""gateway.heap: the import-time heap leaves the collector's full passes; later objects are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway import heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector can free it


@pytest.fixture
def frozen_heap() -> Iterator[int]:
    try:
        yield heap.freeze_startup_heap()
    finally:
        gc.unfreeze()  # the rest of the test session must not keep this process's objects forever


def test_freeze_moves_what_exists_out_of_the_collector(frozen_heap: int) -> None:
    assert frozen_heap > 10_000  # the test process has imported pytest, httpx, pydantic...
    assert gc.get_freeze_count() > 0.9 * frozen_heap  # (refcounting still frees frozen objects that lose their last reference)
    assert sum(gc.get_count()) < 1_000  # the generations start nearly empty: a full pass no longer walks the imports


def test_cycles_made_after_the_freeze_are_still_collected(frozen_heap: int) -> None:
    node = _Node()
    ref = weakref.ref(node)
    del node
    gc.collect()
    assert ref() is None


def test_cycles_that_existed_at_the_freeze_are_kept_so_freeze_once_before_any_router() -> None:
    node = _Node()
    ref = weakref.ref(node)
    heap.freeze_startup_heap()
    try:
        del node
        gc.collect()
        assert ref() is not None  # why freeze_startup_heap runs before the first config is applied, never after
    finally:
        gc.unfreeze()
    gc.collect()
    assert ref() is None
