"""The startup guard (gateway/supply_chain.py) on real site-packages directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import cli, supply_chain
from gateway.supply_chain import (
    SupplyChainError,
    check_environment,
    pins_from_lock,
    verify_environment,
)

REPO = Path(__file__).resolve().parents[2]
LOCKED = {"litellm": "1.108.7"}
DISTUTILS_PTH = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
)
EDITABLE_PTH = "import __editable___genai_gateway_0_1_0_finder; __editable___genai_gateway_0_1_0_finder.install()\n"


def _install(site: Path, name: str, version: str) -> Path:
    """Lay out ``name``'s dist-info as pip does; return its METADATA file."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    metadata = info / "METADATA"
    metadata.write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    return metadata


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    """A site-packages as a fresh `make install` leaves it: the locked litellm and the two allowed .pth files."""
    site = tmp_path / "site-packages"
    _install(site, "litellm", "1.108.7")
    _install(site, "litellm-proxy-extras", "0.4.110")  # a name that starts like litellm's is not litellm
    (site / "distutils-precedence.pth").write_text(DISTUTILS_PTH)
    (site / "__editable__.genai_gateway-0.1.0.pth").write_text(EDITABLE_PTH)
    return site


def test_clean_environment_passes(site_dir: Path) -> None:
    """The locked litellm plus the allow-listed .pth files is no problem at all."""
    assert check_environment([site_dir], LOCKED) == []


def test_planted_pth_is_refused_by_name(site_dir: Path) -> None:
    """A .pth the trojanised litellm 1.82.8 shipped (litellm_init.pth) refuses the start, naming the file."""
    planted = site_dir / "litellm_init.pth"
    planted.write_text("import os, base64; exec(base64.b64decode('cHJpbnQoMSk='))\n")
    with pytest.raises(SupplyChainError) as err:
        verify_environment([site_dir], LOCKED)
    assert str(planted) in str(err.value)
    assert err.value.problems == (f"{planted}: .pth file not in the allow-list (gateway/supply_chain.py ALLOWED_PTH)",)


def test_allowed_name_with_other_content_is_refused(site_dir: Path) -> None:
    """An allow-listed name is not enough: distutils-precedence.pth with an extra import line is refused."""
    impostor = site_dir / "distutils-precedence.pth"
    impostor.write_text(DISTUTILS_PTH + "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9/x')\n")
    problems = check_environment([site_dir], LOCKED)
    assert problems == [f"{impostor}: .pth file not in the allow-list (gateway/supply_chain.py ALLOWED_PTH)"]


@pytest.mark.parametrize("content", [EDITABLE_PTH, "/work/checkout\n"])
def test_editable_install_pth_forms_are_allowed(tmp_path: Path, content: str) -> None:
    """Both forms setuptools writes for this project's editable install (finder hook, plain path) pass."""
    site = tmp_path / "site"
    _install(site, "litellm", "1.108.7")
    (site / "__editable__.genai_gateway-0.1.0.pth").write_text(content)
    assert check_environment([site], LOCKED) == []


def test_wrong_litellm_version_is_refused(tmp_path: Path) -> None:
    """A litellm other than the locked one (here the trojanised 1.82.8) is refused, naming its METADATA file."""
    site = tmp_path / "site"
    metadata = _install(site, "litellm", "1.82.8")
    problems = check_environment([site], LOCKED)
    assert problems == [f"{metadata}: litellm 1.82.8 is installed, the lock pins 1.108.7"]


def test_missing_litellm_is_refused(tmp_path: Path) -> None:
    """No litellm at all in the checked directories is a problem, not a pass."""
    site = tmp_path / "site"
    site.mkdir()
    [problem] = check_environment([site], LOCKED)
    assert problem.startswith("litellm: not installed in ") and "1.108.7" in problem


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    """Two planted .pth files and a wrong version give three problems in one error."""
    site = tmp_path / "site"
    _install(site, "litellm", "1.82.7")
    (site / "a.pth").write_text("import os\n")
    (site / "b.pth").write_text("/somewhere\n")
    with pytest.raises(SupplyChainError) as err:
        verify_environment([site], LOCKED)
    assert len(err.value.problems) == 3
    assert "refusing to start" in str(err.value)


def test_pins_from_lock_reads_the_exact_pin(tmp_path: Path) -> None:
    """The pin is read from a hashed lock line (``litellm==X \\``), the way uv writes it."""
    lock = tmp_path / "requirements.txt"
    lock.write_text("# header\nlitellm==1.108.7 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via -r in\n")
    assert pins_from_lock(lock) == {"litellm": "1.108.7"}


def test_lock_without_the_pin_names_the_file(tmp_path: Path) -> None:
    """A lock that does not pin litellm exactly is an error naming the lock."""
    lock = tmp_path / "requirements.txt"
    lock.write_text("litellm>=1.108\n")
    with pytest.raises(SupplyChainError, match=str(lock)):
        pins_from_lock(lock)


def test_this_environment_passes_the_replica_guard() -> None:
    """The venv the tests run in (installed from requirements/dev.txt) passes the replica's own guard."""
    assert supply_chain.pins_from_metadata() == pins_from_lock(REPO / "requirements" / "replica.txt")
    supply_chain.guard_replica()


def test_function_guard_reads_its_requirements_lock(tmp_path: Path) -> None:
    """The Function's guard compares the installed litellm with its requirements.txt: a different pin refuses."""
    supply_chain.guard_function(REPO / "function_app" / "requirements.txt")
    other = tmp_path / "requirements.txt"
    other.write_text("litellm==1.82.8 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(
        SupplyChainError,
        match=r"litellm 1\.108\.7 is installed, the lock pins 1\.82\.8",
    ):
        supply_chain.guard_function(other)


def test_serve_refuses_to_start_and_names_the_file(
    site_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`genai-gateway serve` exits 2 before reading any setting when site-packages holds a foreign .pth."""
    planted = site_dir / "evil.pth"
    planted.write_text("import os\n")
    monkeypatch.setattr(supply_chain, "replica_site_dirs", lambda: [site_dir])
    monkeypatch.setattr(supply_chain, "pins_from_metadata", lambda: dict(LOCKED))
    config = tmp_path / "config.yaml"
    config.write_text("model_list: []\n")
    assert cli.main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{planted}: .pth file not in the allow-list" in err
    assert "refusing to start" in err
