"""Readers for the supply-chain tests: hash locks, and every install command in the repository.

Kept apart from the tests so the auditor itself is tested on bad commands
(tests/supply_chain/test_install_paths.py) before it is trusted on the real files.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Every hash lock and what it installs (header, hashes and inputs are checked for each).
LOCKS: dict[str, str] = {
    "requirements/replica.txt": "the replica image (Dockerfile)",
    "requirements/build.txt": "installer and build backends (bootstrap, Dockerfile build stage)",
    "requirements/dev.txt": "make run / make test (.venv)",
    "function_app/requirements.txt": "the Function package (remote build)",
    "requirements/checkov.txt": "checkov (.venv-checkov)",
    "requirements/azcli.txt": "azure-cli (.venv-azcli)",
}

# -- hash locks ------------------------------------------------------------------------------


@dataclass
class LockEntry:
    """One ``name==version`` block of a lock, with its hashes and ``# via`` annotations."""

    name: str
    version: str
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def parse_lock(path: Path) -> tuple[list[str], dict[str, LockEntry], list[str]]:
    """(header comment lines, entries by normalized name, lines that are neither) of a uv/pip-compile lock."""
    header: list[str] = []
    entries: dict[str, LockEntry] = {}
    strays: list[str] = []
    current: LockEntry | None = None
    in_via = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if current is None and line.startswith("#"):
            header.append(line)
            continue
        match = _ENTRY.match(line)
        if match:
            current = LockEntry(normalize(match.group(1)), match.group(3))
            entries[current.name] = current
            current.hashes += _HASH.findall(line)
            in_via = False
        elif current is not None and line.startswith("--hash="):
            current.hashes += _HASH.findall(line)
        elif current is not None and line.startswith("# via"):
            rest = line[len("# via") :].strip()
            if rest:
                current.via.add(rest)
            in_via = True
        elif current is not None and in_via and line.startswith("#   "):
            current.via.add(line[1:].strip())
        elif line.startswith("#"):
            continue
        else:
            strays.append(line)
    return header, entries, strays


# -- install commands ------------------------------------------------------------------------

#: Text files that can hold an install command: scripts, build files, CI, code, docs.
_SCANNED_SUFFIXES = {
    ".sh",
    ".py",
    ".md",
    ".yml",
    ".yaml",
    ".toml",
    ".cfg",
    ".bicep",
    ".json",
}
_SCANNED_NAMES = {"Makefile", "Dockerfile", "run"}
#: Files not scanned, each with why.
EXEMPT: dict[str, str] = {
    "docs/benchmarks.md": "a record of how past measurements were taken, not an instruction",
    "package-lock.json": "the npm lock itself",
    "tests/supply_chain/test_install_paths.py": "holds deliberately unhashed commands to test the auditor",
    "tests/supply_chain/audit.py": "the auditor: its patterns and docstrings name the commands it judges",
}

_INSTALL = re.compile(
    r"(?<![\w-])(?:pip3?\s+(?:--python\s+\S+\s+)?(?:install|download|wheel)|uv\s+pip\s+(?:install|sync)"
    r"|npm\s+(?:install|i|ci|add)|pipx\s+install|easy_install)(?![\w-])"
)
#: pip/uv options that take a value (the value is not an install target).
_VALUED = {
    "-r", "--requirement", "-c", "--constraint", "--python", "-p", "-t", "--target", "--prefix", "--root",
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--cache-dir", "-w", "--wheel-dir",
    "--log", "--progress-bar", "--platform", "--python-version", "--implementation", "--abi", "-d", "--dest",
    "--only-binary", "--no-binary", "--loglevel",
}  # fmt: skip


@dataclass(frozen=True)
class InstallCommand:
    """An install command found in ``path`` at ``line`` (1-based), as one logical line."""

    path: str
    line: int
    text: str


def repository_files(root: Path = REPO) -> list[str]:
    """Tracked and untracked, not ignored, files (what a commit of the working tree would hold)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return sorted({line for line in out.splitlines() if line and (root / line).is_file()})


def scanned(path: str) -> bool:
    """True for a file that can hold an install command and is not exempt nor a lock."""
    p = Path(path)
    if path in EXEMPT or path in LOCKS or p.suffix == ".in":
        return False
    return p.suffix in _SCANNED_SUFFIXES or p.name in _SCANNED_NAMES or p.name.startswith("Dockerfile")


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with shell/Dockerfile/Makefile backslash continuations joined; yields (first line number, text)."""
    start, parts = 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if not parts:
            start = number
        if line.rstrip().endswith("\\"):
            parts.append(line.rstrip()[:-1])
            continue
        parts.append(line)
        yield start, " ".join(parts)
        parts = []
    if parts:
        yield start, " ".join(parts)


def _flatten_python_list(line: str) -> str:
    """``["-m", "pip", "install", "-r", str(X)]`` -> ``-m pip install -r str(X)`` so argv lists read like commands."""
    return re.sub(r"""["'],\s*["']""", " ", line)


def find_install_commands(root: Path = REPO, files: list[str] | None = None) -> list[InstallCommand]:
    """Every install command in the scanned files of ``root``."""
    found = []
    for path in files if files is not None else [f for f in repository_files(root) if scanned(f)]:
        full = root / path
        if not full.is_file():
            continue
        try:
            text = full.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in logical_lines(text):
            flat = _flatten_python_list(line) if path.endswith(".py") else line
            for command in re.split(r"&&|\|\||;\s", flat):  # `RUN a && b`: judge a and b apart
                if _INSTALL.search(command):
                    found.append(InstallCommand(path, number, command.strip()))
    return found


def _tokens(command: str) -> list[str]:
    """Whitespace tokens with quotes, commas and backticks dropped, and the brackets of an argv list
    (``[str(x)``, ``y]``) but not of an extra (``.[test]``)."""
    tokens = []
    for token in re.sub(r"""["'`,]""", " ", command).split():
        token = token.removeprefix("[")
        if token.endswith("]") and "[" not in token:
            token = token[:-1]
        if token:
            tokens.append(token)
    return tokens


def judge(command: str, root: Path = REPO) -> str | None:
    """None when ``command`` installs only through a hash lock (or installs the project itself); else why not.

    The rules:
    * ``pip``/``uv pip`` ``install``/``sync``/``download`` with ``-r LOCK``: needs ``--require-hashes``,
      and a literal LOCK that exists must carry a hash on every entry;
    * without ``-r``: only this project itself (``.``, ``-e .``, or a local ``*.whl`` with ``--no-index``),
      and only with ``--no-deps``;
    * ``npm``: only ``npm ci`` (installs exactly package-lock.json, integrity-checked), or
      ``npm install --package-lock-only`` (writes the lock, installs nothing);
    * ``pipx``, ``easy_install``: never.
    """
    command = _flatten_python_list(command)
    match = _INSTALL.search(command)
    assert match, command
    verb = match.group(0).split()
    tokens = _tokens(command[match.end() :])
    if verb[0] in ("pipx", "easy_install"):
        return f"{verb[0]} installs without a hash lock"
    if verb[0] == "npm":
        if verb[1] == "ci" or "--package-lock-only" in tokens:
            return None
        return "npm install/add resolves versions itself: use `npm ci` (package-lock.json)"
    requirement_files = [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t in ("-r", "--requirement")]
    requirement_files += [t.split("=", 1)[1] for t in tokens if t.startswith("--requirement=")]
    if requirement_files:
        if "--require-hashes" not in tokens:
            return "installs a requirements file without --require-hashes"
        for name in requirement_files:
            lock = root / name
            if re.fullmatch(r"[\w./-]+", name) and not lock.is_file():
                return f"{name}: no such lock in the repository"
            if re.fullmatch(r"[\w./-]+", name):
                _, entries, strays = parse_lock(lock)
                unhashed = [e.name for e in entries.values() if not e.hashes]
                if unhashed or strays:
                    return f"{name} is not a complete hash lock (unhashed: {unhashed or strays})"
        return None
    targets, skip = [], False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token in _VALUED:
            skip = True
            continue
        if token.startswith("-"):
            continue
        if token in ("&&", "||", ";", "|") or token.startswith("#"):
            break
        targets.append(token)
    if not targets:
        return "installs nothing recognisable as this project or a hash lock"
    own = all(t == "." or (t.endswith(".whl") and "--no-index" in tokens) for t in targets)
    if not own:
        return f"installs {' '.join(targets)} without a hash lock"
    if "--no-deps" not in tokens:
        return "installs the project without --no-deps (its dependencies must come from the lock)"
    return None
