"""The hash locks: complete, hashed, written by `make lock`, and in step with pyproject.toml and their inputs."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.supply_chain.audit import LOCKS, REPO, LockEntry, normalize, parse_lock

#: Releases that must never be installed, with why (docs/dependencies.md repeats this list).
NEVER = {("litellm", "1.82.7"): "trojanised on PyPI (BerriAI/litellm#24518)",
         ("litellm", "1.82.8"): "trojanised on PyPI (BerriAI/litellm#24518)"}  # fmt: skip
#: Locks that must agree with each other on every package they share (one version per package).
SHARED = (
    "requirements/replica.txt",
    "requirements/build.txt",
    "requirements/dev.txt",
    "function_app/requirements.txt",
)
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SELF = "genai-gateway (pyproject.toml)"


def _entries(lock: str) -> dict[str, LockEntry]:
    return parse_lock(REPO / lock)[1]


def _requirements(specs: list[str]) -> dict[str, Requirement]:
    return {normalize(r.name): r for r in map(Requirement, specs)}


def _assert_in_step(lock: str, direct: dict[str, Requirement], source: str, root: Path = REPO) -> None:
    """Every direct requirement is pinned in ``lock`` within its specifier, and every entry the lock
    attributes to ``source`` is still a direct requirement (nothing stale in either direction)."""
    entries = parse_lock(root / lock)[1]
    for name, requirement in direct.items():
        assert name in entries, f"{lock}: {requirement} is not locked; run `make lock`"
        version = entries[name].version
        assert requirement.specifier.contains(version, prereleases=True), f"{lock}: {name}=={version} does not satisfy {requirement}; run `make lock`"
    stale = sorted(name for name, entry in entries.items() if source in entry.via and name not in direct)
    assert not stale, f"{lock} still locks {stale} for {source}, which no longer asks for them; run `make lock`"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_entry_is_an_exact_pin_with_hashes(lock: str) -> None:
    """Each lock pins every package with == and at least one sha256 hash, and has nothing else."""
    _, entries, strays = parse_lock(REPO / lock)
    assert len(entries) >= 5, f"{lock}: only {len(entries)} entries parsed"
    assert not strays, f"{lock}: lines that are not pinned+hashed entries: {strays[:3]}"
    unhashed = [name for name, entry in entries.items() if not entry.hashes]
    assert not unhashed, f"{lock}: no --hash for {unhashed}"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_header_holds_the_command_that_wrote_it_and_make_lock_runs_it(
    lock: str,
) -> None:
    """The header names the exact `uv pip compile --generate-hashes ... -o <this file>` command, which scripts/lock.sh runs."""
    header = " ".join(parse_lock(REPO / lock)[0])
    match = re.search(r"#\s+(uv pip compile .*? -o (\S+))", header)
    assert match, f"{lock}: header does not hold the uv pip compile command"
    assert "--generate-hashes" in match.group(1) and match.group(2) == lock
    script = (REPO / "scripts" / "lock.sh").read_text()
    assert f"-o {lock}" in script, f"scripts/lock.sh does not write {lock}"
    assert "scripts/lock.sh" in (REPO / "Makefile").read_text().split("\nlock:", 1)[1].split("\n\n", 1)[0]


def test_replica_lock_matches_pyproject_dependencies() -> None:
    """requirements/replica.txt locks exactly pyproject's [project.dependencies], each within its specifier."""
    _assert_in_step("requirements/replica.txt", _requirements(PYPROJECT["dependencies"]), SELF)


def test_dev_lock_matches_pyproject_with_test_and_dev_extras() -> None:
    """requirements/dev.txt locks the dependencies plus the `test` and `dev` extras (what make run/test install)."""
    extras = PYPROJECT["optional-dependencies"]
    direct = _requirements([*PYPROJECT["dependencies"], *extras["test"], *extras["dev"]])
    _assert_in_step("requirements/dev.txt", direct, SELF)
    _assert_in_step(
        "requirements/dev.txt",
        _in_requirements("requirements/build.in"),
        "-r requirements/build.in",
    )


def _in_requirements(path: str) -> dict[str, Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in (REPO / path).read_text().splitlines()]
    return _requirements([line for line in lines if line])


_HASH = "    --hash=sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("lock_text", "expected"),
    [
        (f"pyyaml==6.0.4 \\\n{_HASH}\n    # via genai-gateway (pyproject.toml)\n", None),
        ("", "pyyaml<7,>=6.0.3 is not locked"),
        (f"pyyaml==5.4 \\\n{_HASH}\n    # via genai-gateway (pyproject.toml)\n", "pyyaml==5.4 does not satisfy"),
        ((f"pyyaml==6.0.4 \\\n{_HASH}\n    # via genai-gateway (pyproject.toml)\n"
          f"requests==2.0 \\\n{_HASH}\n    # via\n    #   -c x\n    #   genai-gateway (pyproject.toml)\n"),
         "still locks ['requests']"),
    ],
)  # fmt: skip
def test_lock_check_catches_drift(tmp_path: Path, lock_text: str, expected: str | None) -> None:
    """The pyproject-vs-lock check fails on a missing pin, a pin outside the range and a stale entry."""
    (tmp_path / "lock.txt").write_text(lock_text)
    direct = _requirements(["pyyaml>=6.0.3,<7"])
    if expected is None:
        _assert_in_step("lock.txt", direct, SELF, root=tmp_path)
        return
    with pytest.raises(AssertionError, match=re.escape(expected)):
        _assert_in_step("lock.txt", direct, SELF, root=tmp_path)


@pytest.mark.parametrize(
    ("source", "lock"),
    [
        ("function_app/requirements.in", "function_app/requirements.txt"),
        ("requirements/build.in", "requirements/build.txt"),
        ("requirements/checkov.in", "requirements/checkov.txt"),
        ("requirements/azcli.in", "requirements/azcli.txt"),
    ],
)
def test_lock_matches_its_input(source: str, lock: str) -> None:
    """Each lock written from a requirements/*.in file pins every line of it, and nothing it dropped."""
    _assert_in_step(lock, _in_requirements(source), f"-r {source}")


def test_shared_packages_have_one_version_everywhere() -> None:
    """The image, the Function, the build tools and the dev env run the same version of every shared package."""
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for lock in SHARED:
        for name, entry in _entries(lock).items():
            first = seen.setdefault(name, (lock, entry.version))
            if first[1] != entry.version:
                clashes.append(f"{name}: {first[0]} has {first[1]}, {lock} has {entry.version}")
    assert not clashes, clashes


def test_litellm_is_pinned_once_and_never_to_a_banned_release() -> None:
    """pyproject, the image lock and the Function lock pin the same litellm, and no lock holds a banned release."""
    pyproject_pin = str(_requirements(PYPROJECT["dependencies"])["litellm"].specifier)
    assert pyproject_pin.startswith("=="), "litellm must be pinned exactly in pyproject.toml (docs/dependencies.md)"
    versions = {lock: _entries(lock)["litellm"].version for lock in SHARED if "litellm" in _entries(lock)}
    assert set(versions) >= {
        "requirements/replica.txt",
        "requirements/dev.txt",
        "function_app/requirements.txt",
    }
    assert set(versions.values()) == {pyproject_pin[2:]}, versions
    for lock in LOCKS:
        for name, entry in _entries(lock).items():
            assert (name, entry.version) not in NEVER, f"{lock}: {name}=={entry.version}: {NEVER[(name, entry.version)]}"


def test_docs_list_the_banned_releases() -> None:
    """docs/dependencies.md names every never-use release, so an upgrader reads it before bumping."""
    text = (REPO / "docs" / "dependencies.md").read_text()
    for _name, version in NEVER:
        assert version in text
    assert "BerriAI/litellm#24518" in text


def test_npm_lock_pins_azurite_with_integrity() -> None:
    """package-lock.json pins the exact Azurite of package.json, and every package in it has a sha512 integrity."""
    manifest = json.loads((REPO / "package.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    wanted = manifest["devDependencies"]["azurite"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", wanted), f"package.json: azurite must be an exact version, not {wanted}"
    packages = lock["packages"]
    assert packages["node_modules/azurite"]["version"] == wanted
    missing = [path for path, meta in packages.items() if path and not str(meta.get("integrity", "")).startswith("sha512-")]
    assert not missing, f"package-lock.json entries without sha512 integrity: {missing[:5]}"
    assert len(packages) > 50
