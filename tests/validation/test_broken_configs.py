"""Every broken config is rejected with a message that names the YAML path and the problem."""

from __future__ import annotations

import pytest

from gateway.validation import ValidationOptions, validate
from tests.support.broken_configs import BROKEN, Broken

ENV = {"LITELLM_MASTER_KEY": "sk-" + "x" * 40}


@pytest.mark.parametrize("case", BROKEN, ids=[b.id for b in BROKEN])
def test_broken_config_is_rejected_with_its_path(case: Broken) -> None:
    """The validator rejects the config and its first error names the expected path and problem."""
    report = validate(case.data, ValidationOptions(mode="replica", env=ENV))
    assert not report.valid
    assert report.config is None
    matching = [e for e in report.errors if e.path == case.path and case.fragment in e.message]
    assert matching, f"expected {case.path!r} / {case.fragment!r}, got {[str(e) for e in report.errors]}"


def test_there_are_at_least_twenty_broken_cases() -> None:
    """The issue asks for at least 20 distinct broken configs."""
    assert len({b.id for b in BROKEN}) >= 20
