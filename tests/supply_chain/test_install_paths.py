"""Every install path (Makefile, scripts, Dockerfile, Function packaging, CI, docs) goes through a hash lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.supply_chain.audit import (
    REPO,
    find_install_commands,
    judge,
    repository_files,
    scanned,
)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("pip install requests", "installs requests without a hash lock"),
        ("pip install --upgrade pip", "installs pip without a hash lock"),
        (
            ".venv/bin/pip install -c constraints.txt -e .[test]",
            "installs .[test] without a hash lock",
        ),
        ("python -m pip install -r requirements/dev.txt", "without --require-hashes"),
        (
            "uv pip install -r requirements/dev.txt --no-deps",
            "without --require-hashes",
        ),
        ("pip install -e .", "without --no-deps"),
        ("pip install dist/x.whl --no-deps", "installs dist/x.whl without a hash lock"),
        ("npm install --no-save azurite@3", "use `npm ci`"),
        ("npm i azurite", "use `npm ci`"),
        ("pipx install checkov", "pipx installs without a hash lock"),
        (
            '[sys.executable, "-m", "pip", "install", "azure-cli==2.91.0"]',
            "installs azure-cli==2.91.0 without",
        ),
        (
            "RUN pip install --require-hashes -r requirements/build.in",
            "requirements/build.in is not a complete hash lock",
        ),
        (
            "pip install --require-hashes -r constraints.txt",
            "constraints.txt: no such lock",
        ),
        ("pip wheel --wheel-dir dist .", "without --no-deps"),
    ],
)
def test_auditor_flags_unhashed_installs(command: str, reason: str) -> None:
    """The auditor rejects each way of installing around the locks, saying why."""
    verdict = judge(command)
    assert verdict is not None and reason in verdict, verdict


@pytest.mark.parametrize(
    "command",
    [
        "pip install --require-hashes --no-deps -r requirements/dev.txt",
        '"$venv/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$lock"',
        "uv pip install --require-hashes --no-deps --no-build-isolation -r requirements/dev.txt",
        "uv pip install --no-deps --no-build-isolation -e .",
        "pip --python /opt/venv/bin/python install --no-deps --no-index /tmp/dist/*.whl",
        "npm ci --ignore-scripts",
        '[str(python), "-m", "pip", "install", "--require-hashes", "-r", str(REQUIREMENTS)]',
    ],
)
def test_auditor_accepts_locked_installs(command: str) -> None:
    """Installs from a hash lock, and of the project itself with --no-deps, pass."""
    assert judge(command) is None


def test_no_install_path_bypasses_the_locks() -> None:
    """No scanned file in the repository installs a package without a hash lock."""
    bad = [f"{c.path}:{c.line}: {judge(c.text)}: {c.text[:160]}" for c in find_install_commands() if judge(c.text)]
    assert not bad, "\n".join(bad)


def test_the_audit_sees_every_install_path() -> None:
    """The scan covers the Makefile, the scripts, the Dockerfile and CI, and finds the installs they hold."""
    files = repository_files()
    for path in ("Makefile", "Dockerfile", ".ci/run", "scripts/bootstrap.sh", "scripts/install-test-deps.sh",
                 "scripts/install-services.sh", "function_app/function_app.py", "README.md"):  # fmt: skip
        assert path in files and scanned(path), path
    per_file: dict[str, int] = {}
    for command in find_install_commands():
        per_file[command.path] = per_file.get(command.path, 0) + 1
    assert per_file.get("Dockerfile", 0) >= 4, per_file
    assert per_file.get("scripts/bootstrap.sh", 0) >= 3, per_file
    assert per_file.get("scripts/install-test-deps.sh", 0) >= 1, per_file
    assert per_file.get("scripts/install-services.sh", 0) >= 1, per_file


def test_make_targets_install_only_through_the_audited_scripts() -> None:
    """`make run` needs `install`, `make test` needs `install-test`, and both install only through the scripts audited above."""
    makefile = (REPO / "Makefile").read_text()

    def recipe(target: str) -> tuple[list[str], list[str]]:
        match = re.search(rf"^{target}:([^\n]*)\n((?:\t[^\n]*\n)*)", makefile, re.MULTILINE)
        assert match, f"Makefile has no {target} target"
        return match.group(1).split(), [line.strip() for line in match.group(2).splitlines()]

    def needs(target: str) -> set[str]:
        found: set[str] = set()
        todo = [target]
        while todo:
            for dep in recipe(todo.pop())[0]:
                if dep not in found:
                    found.add(dep)
                    todo.append(dep)
        return found

    assert "install" in needs("run")
    assert "install-test" in needs("test")
    assert recipe("install") == ([], ["scripts/bootstrap.sh", "scripts/install-services.sh"])
    deps, lines = recipe("install-test")
    assert deps == ["install"]
    assert all(line.startswith("scripts/") for line in lines), lines
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_no_unhashed_constraints_file_is_left() -> None:
    """constraints.txt (versions without hashes) is gone: the locks in requirements/ replace it."""
    assert not (REPO / "constraints.txt").exists()
    for path in repository_files():
        if scanned(path) and path != "tests/supply_chain/test_install_paths.py":
            text = (REPO / path).read_text(encoding="utf-8", errors="replace")
            assert "-c constraints.txt" not in text, path


def test_docs_show_the_hashed_image_and_function_installs() -> None:
    """docs/dependencies.md shows the image's and the Function's install commands, both hash-checked."""
    text = (REPO / "docs" / "dependencies.md").read_text()
    commands = [line for line in text.splitlines() if re.search(r"pip (--python \S+ )?install", line)]
    assert any("requirements/replica.txt" in c and "--require-hashes" in c for c in commands), commands
    assert any("function_app/requirements.txt" in c and "--require-hashes" in c for c in commands), commands


def test_dockerignore_keeps_dev_tooling_out_of_the_image() -> None:
    """The image's build context leaves out the dev tooling and local envs (devstack, tests, node_modules, venvs)."""
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {"devstack", "tests", "node_modules", ".venv*"} <= ignored
    assert Path(REPO / "Dockerfile").read_text().count("COPY gateway ./gateway") == 1
