"""What a config changes against another: model groups, deployments and settings, secrets masked.

Deployments are matched within their model group by ``litellm_params.model`` and
``api_base`` (plus ``model_info.id`` when set), so reordering a list is not a
change and editing a deployment's parameters is one "changed" entry that lists the
fields. Settings sections are compared key by key (nested keys dotted). A value under
a secret key (``api_key``, ``client_secret``, ``master_key``, ...) is never shown:
an ``os.environ/NAME`` reference is (it names a variable, it is not the secret), a
literal is ``<secret>``; every other value goes through ``gateway.redact.scrub``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gateway import redact
from gateway.validation.envrefs import PREFIX
from gateway.validation.loader import load_yaml
from gateway.validation.secrets import SECRET_KEYS

SETTINGS_SECTIONS = ("router_settings", "litellm_settings", "general_settings")
_MISSING = object()


@dataclass(frozen=True)
class Change:
    """One changed value: ``path`` (dotted, within its section or deployment), before and after (masked text)."""

    path: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.before is None:
            return f"+ {self.path}: {self.after}"
        if self.after is None:
            return f"- {self.path}: {self.before}"
        return f"~ {self.path}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class DeploymentChange:
    group: str
    deployment: str
    kind: str  # "added" | "removed" | "changed"
    fields: tuple[Change, ...] = ()


@dataclass
class ConfigDiff:
    groups_added: list[str] = field(default_factory=list)
    groups_removed: list[str] = field(default_factory=list)
    deployments: list[DeploymentChange] = field(default_factory=list)
    sections: dict[str, list[Change]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.groups_added or self.groups_removed or self.deployments or any(self.sections.values()))

    @property
    def groups_changed(self) -> list[str]:
        touched = {d.group for d in self.deployments}
        return sorted(touched - set(self.groups_added) - set(self.groups_removed))

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_groups": {"added": self.groups_added, "removed": self.groups_removed, "changed": self.groups_changed},
            "deployments": [
                {"group": d.group, "deployment": d.deployment, "change": d.kind, "fields": [vars(f) for f in d.fields]}
                for d in self.deployments
            ],
            "settings": {name: [vars(c) for c in changes] for name, changes in self.sections.items() if changes},
        }

    def lines(self) -> list[str]:
        """The human summary (``push`` prints it before uploading)."""
        if self.empty:
            return ["no changes"]
        out = [
            f"model groups: {len(self.groups_added)} added, {len(self.groups_removed)} removed, {len(self.groups_changed)} changed"
        ]
        out += [f"  + {g}" for g in self.groups_added]
        out += [f"  - {g}" for g in self.groups_removed]
        out += [f"  ~ {g}" for g in self.groups_changed]
        kinds = Counter(d.kind for d in self.deployments)
        if self.deployments:
            out.append(f"deployments: {kinds['added']} added, {kinds['removed']} removed, {kinds['changed']} changed")
            for d in self.deployments:
                sign = {"added": "+", "removed": "-", "changed": "~"}[d.kind]
                out.append(f"  {sign} {d.group}: {d.deployment}")
                out += [f"      {c}" for c in d.fields]
        for name, changes in self.sections.items():
            if changes:
                out.append(f"{name}:")
                out += [f"  {c}" for c in changes]
        return out


def diff_bytes(before: bytes | None, after: bytes, *, max_bytes: int = 64 * 1024 * 1024) -> ConfigDiff:
    """Diff two config files (``before`` None: everything is added). Raises ``LoadError`` on unreadable YAML."""
    old = load_yaml(before, max_bytes=max_bytes) if before is not None else {}
    new = load_yaml(after, max_bytes=max_bytes)
    return diff_configs(old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {})


def diff_configs(old: dict[str, Any], new: dict[str, Any]) -> ConfigDiff:
    result = ConfigDiff()
    old_groups, new_groups = _deployments(old), _deployments(new)
    result.groups_added = sorted(set(new_groups) - set(old_groups))
    result.groups_removed = sorted(set(old_groups) - set(new_groups))
    for group in sorted(set(old_groups) | set(new_groups)):
        before, after = old_groups.get(group, {}), new_groups.get(group, {})
        pairs = [(key, key) for key in sorted(set(before) & set(after))]
        gone = [k for k in before if k not in after]
        new_keys = [k for k in after if k not in before]
        # An edited api_base (or id) keeps the deployment: pair what is left by model, in file order.
        for old_key in list(gone):
            match = next((k for k in new_keys if _model(after[k]) == _model(before[old_key])), None)
            if match is not None:
                pairs.append((old_key, match))
                gone.remove(old_key)
                new_keys.remove(match)
        for old_key, new_key in pairs:
            fields = tuple(_compare(before[old_key], after[new_key]))
            if fields:
                result.deployments.append(DeploymentChange(group, new_key, "changed", fields))
        result.deployments += [DeploymentChange(group, k, "added") for k in new_keys]
        result.deployments += [DeploymentChange(group, k, "removed") for k in gone]
    others = sorted((set(old) | set(new)) - {"model_list", *SETTINGS_SECTIONS})
    for name in (*SETTINGS_SECTIONS, *others):
        a, b = old.get(name), new.get(name)
        if isinstance(a, dict) or isinstance(b, dict):
            result.sections[name] = list(_compare(a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {}))
        elif a != b:
            result.sections[name] = [Change(name, _show(name, a) if a is not None else None, _show(name, b) if b is not None else None)]
    return result


def _deployments(config: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """model group -> deployment label -> the deployment (minus model_name)."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in config.get("model_list") or []:
        if not isinstance(entry, dict):
            continue
        group = str(entry.get("model_name", "?"))
        raw_params, raw_info = entry.get("litellm_params"), entry.get("model_info")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        label = str(params.get("model", "?"))
        if params.get("api_base"):
            label += f" @ {redact.scrub(str(params['api_base']))}"
        if info.get("id"):
            label += f" (id {info['id']})"
        bucket = groups.setdefault(group, {})
        unique, n = label, 2
        while unique in bucket:
            unique, n = f"{label} #{n}", n + 1
        bucket[unique] = {k: v for k, v in entry.items() if k != "model_name"}
    return groups


def _model(deployment: dict[str, Any]) -> str:
    params = deployment.get("litellm_params")
    return str(params.get("model")) if isinstance(params, dict) else ""


def _compare(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[Change]:
    changes = []
    for key in sorted(set(a) | set(b), key=str):
        path = f"{prefix}{key}"
        x, y = a.get(key, _MISSING), b.get(key, _MISSING)
        if isinstance(x, dict) and isinstance(y, dict):
            changes += _compare(x, y, path + ".")
        elif x is _MISSING:
            changes.append(Change(path, None, _show(str(key), y)))
        elif y is _MISSING:
            changes.append(Change(path, _show(str(key), x), None))
        elif x != y:
            changes.append(Change(path, _show(str(key), x), _show(str(key), y)))
    return changes


def _show(key: str, value: Any) -> str:
    """A value as the summary shows it: secrets under secret keys never, references as written."""
    if isinstance(value, str) and value.startswith(PREFIX):
        return value
    if key.lower() in SECRET_KEYS:
        return "<secret>"
    if isinstance(value, dict | list):
        return redact.scrub(str(redact_tree(value)))
    return redact.scrub(repr(value) if isinstance(value, str) else str(value))


def redact_tree(value: Any) -> Any:
    """``value`` with every secret-key entry masked (references kept), for nested settings."""
    if isinstance(value, dict):
        return {k: (_show(str(k), v) if str(k).lower() in SECRET_KEYS else redact_tree(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(v) for v in value]
    return value
