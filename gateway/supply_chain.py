"""Startup guard: refuse to run on a Python environment that is not the one we locked.

In March 2026 two LiteLLM releases on PyPI (1.82.7 and 1.82.8) were trojanised
(BerriAI/litellm#24518): a ``.pth`` file in site-packages ran at every interpreter
start and shipped cloud credentials, environment variables and Kubernetes secrets
away. The hash locks (``requirements/*.txt``, ``function_app/requirements.txt``)
stop a substituted artefact at install time. This guard is the second line, run by
the replica (``genai-gateway serve`` / ``sync``) and by the Function before either
reads a credential. It checks that

* the installed ``litellm`` is the version the lock pins (an image or package
  built past the lock, or a hand-installed upgrade, is refused), and
* no ``.pth`` file in site-packages is outside :data:`ALLOWED_PTH`: a ``.pth``
  line that starts with ``import`` is executed by ``site`` at every interpreter
  start, which is exactly what the trojan used.

On a mismatch :class:`SupplyChainError` lists every problem, each naming its file,
and the caller refuses to start. A ``.pth`` runs before any of our code, so the
guard cannot undo what one already did; it turns a silent compromise into a
refused start that an operator sees. There is deliberately no switch to turn it
off: a new legitimate ``.pth`` is added to :data:`ALLOWED_PTH` in a reviewed change
(docs/dependencies.md).

Pure functions over explicit paths (:func:`check_environment`), so the tests run
them against a real temporary site-packages directory.
"""

from __future__ import annotations

import importlib.metadata
import re
import site
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from fnmatch import fnmatch
from pathlib import Path

from gateway.errors import GatewayError

#: Packages whose installed version must equal the lock's pin. litellm is the one whose
#: internals the applier touches and the one that was trojanised.
GUARDED_PACKAGES: tuple[str, ...] = ("litellm",)
#: This project's distribution: its metadata carries pyproject's exact pins.
DISTRIBUTION = "genai-gateway"


@dataclass(frozen=True)
class AllowedPth:
    """A ``.pth`` file that may be in site-packages: its name (a glob) and its exact content."""

    name: str
    content: re.Pattern[str]
    why: str

    def admits(self, path: Path) -> bool:
        """True when ``path``'s name matches and every non-blank line matches ``content``."""
        if not fnmatch(path.name, self.name):
            return False
        lines = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
        return bool(lines) and all(self.content.fullmatch(line) for line in lines)


#: Every ``.pth`` the locked environments really contain (checked on a fresh `make install`,
#: the image's venv and the Function's package dir). Anything else refuses the start.
ALLOWED_PTH: tuple[AllowedPth, ...] = (
    AllowedPth(
        name="distutils-precedence.pth",
        content=re.compile(
            re.escape(
                "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
                "enabled and __import__('_distutils_hack').add_shim();"
            )
        ),
        why="setuptools (locked in requirements/build.txt; also in every `python -m venv`): prefers its bundled distutils",
    ),
    AllowedPth(
        name="__editable__.genai_gateway-*.pth",
        content=re.compile(
            r"import (__editable___genai_gateway_\w+_finder); \1\.install\(\)"  # setuptools' finder hook
            r"|/[^\n;]*"  # or a plain absolute path (setuptools' compat mode): adds the checkout to sys.path
        ),
        why="this project's own editable install (`make install`), pointing at the checkout",
    ),
)


class SupplyChainError(GatewayError):
    """Raised at startup when the environment differs from the lock; lists every problem with its file."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"refusing to start: the Python environment does not match the lock ({len(self.problems)} problem(s)):\n"
            f"{lines}\nSee docs/dependencies.md (supply chain)."
        )


def normalize(name: str) -> str:
    """PEP 503 name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\#]+)")


def pins_from_lock(lock: Path, names: Iterable[str] = GUARDED_PACKAGES) -> dict[str, str]:
    """The ``name==version`` pins of ``names`` in a requirements lock; raises naming the file if one is missing."""
    try:
        text = lock.read_text(encoding="utf-8")
    except OSError as exc:
        raise SupplyChainError([f"{lock}: cannot read the lock ({exc.strerror or exc})"]) from exc
    found = {normalize(m.group(1)): m.group(2) for m in map(_PIN.match, text.splitlines()) if m}
    wanted = [normalize(n) for n in names]
    missing = [n for n in wanted if n not in found]
    if missing:
        raise SupplyChainError([f"{lock}: no exact pin (name==version) for {', '.join(missing)}"])
    return {n: found[n] for n in wanted}


def pins_from_metadata(distribution: str = DISTRIBUTION, names: Iterable[str] = GUARDED_PACKAGES) -> dict[str, str]:
    """The exact pins of ``names`` in the installed ``distribution``'s Requires-Dist (pyproject's pins).

    The replica image holds the project as an installed wheel, not its lock file;
    tests/supply_chain/test_locks.py keeps pyproject's ``==`` pins equal to requirements/replica.txt.
    """
    try:
        requires = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise SupplyChainError([f"{distribution} is not installed: cannot read its pinned dependencies"]) from exc
    found = {}
    for requirement in requires:
        m = _PIN.match(requirement)
        if m and "extra ==" not in requirement:
            found[normalize(m.group(1))] = m.group(2)
    wanted = [normalize(n) for n in names]
    missing = [n for n in wanted if n not in found]
    if missing:
        raise SupplyChainError([f"{distribution}'s metadata has no exact pin for {', '.join(missing)}"])
    return {n: found[n] for n in wanted}


def check_environment(
    site_dirs: Iterable[Path],
    expected: Mapping[str, str],
    allowed: Sequence[AllowedPth] = ALLOWED_PTH,
) -> list[str]:
    """Every problem with ``site_dirs``: a guarded package missing or at another version, a foreign ``.pth``.

    ``expected`` maps package names to the locked version. Each problem names its file.
    """
    dirs = _unique(site_dirs)
    problems: list[str] = []
    for name, version in expected.items():
        installed = _installed(dirs, name)
        if not installed:
            problems.append(f"{name}: not installed in {', '.join(map(str, dirs)) or '(no site-packages)'}; lock pins {version}")
        for where, found in installed:
            if found != version:
                problems.append(f"{where}: {name} {found} is installed, the lock pins {version}")
    for directory in dirs:
        for pth in sorted(directory.glob("*.pth")):
            if not any(rule.admits(pth) for rule in allowed):
                problems.append(f"{pth}: .pth file not in the allow-list (gateway/supply_chain.py ALLOWED_PTH)")
    return problems


def verify_environment(
    site_dirs: Iterable[Path],
    expected: Mapping[str, str],
    allowed: Sequence[AllowedPth] = ALLOWED_PTH,
) -> None:
    """:func:`check_environment`, raising :class:`SupplyChainError` when it finds anything."""
    problems = check_environment(site_dirs, expected, allowed)
    if problems:
        raise SupplyChainError(problems)


def replica_site_dirs() -> list[Path]:
    """The directories ``site`` processes ``.pth`` files from in this interpreter, plus litellm's own."""
    dirs = [Path(p) for p in site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(Path(site.getusersitepackages()))
    return [*dirs, *_distribution_dirs(GUARDED_PACKAGES)]


def guard_replica() -> None:
    """Refuse to start a replica whose environment does not match the lock (pyproject's pins)."""
    verify_environment(replica_site_dirs(), pins_from_metadata())


def guard_function(lock: Path) -> None:
    """Refuse to load the Function when its package dir does not match ``lock`` (its requirements.txt).

    Only the directory the Function's packages were installed into (the one holding litellm)
    is checked: the Functions host's own Python is not ours to judge.
    """
    expected = pins_from_lock(lock)
    dirs = _distribution_dirs(expected)
    verify_environment(dirs or [Path(p) for p in site.getsitepackages()], expected)


# -- helpers -------------------------------------------------------------------------------


def _installed(dirs: Sequence[Path], name: str) -> list[tuple[Path, str]]:
    """(METADATA file, version) of every installed copy of ``name`` in ``dirs``."""
    copies = []
    for directory in dirs:
        for info in sorted(directory.glob("*.dist-info")):
            if normalize(info.name.split("-", 1)[0]) != normalize(name):
                continue
            metadata = info / "METADATA"
            headers = HeaderParser().parsestr(_read_text(metadata))
            if normalize(headers.get("Name", "")) == normalize(name):
                copies.append((metadata, headers.get("Version", "(no Version)")))
    return copies


def _distribution_dirs(names: Iterable[str]) -> list[Path]:
    """The site directories the installed ``names`` live in (e.g. a Function's .python_packages)."""
    dirs = []
    for name in names:
        try:
            dirs.append(Path(str(importlib.metadata.distribution(name).locate_file(""))))
        except importlib.metadata.PackageNotFoundError:
            continue
    return dirs


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for path in paths:
        resolved = path.resolve()
        if resolved.is_dir():
            seen.setdefault(resolved, None)
    return list(seen)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
