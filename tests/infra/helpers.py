"""Shared helpers for the offline infra checks (bicep, Kubernetes manifests, deploy.sh).

The bicep CLI cannot be downloaded here, so the templates are read from their parsed
structure (pycep-parser, the parser checkov itself uses). A few bicep expressions the
tests depend on are evaluated here by small, strict evaluators (string interpolation with
``toUpper``/``replace``, Azure ABAC role-assignment conditions): anything they do not
understand raises, so a template change cannot make a check pass by being unreadable.
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
K8S = INFRA / "k8s"
DEPLOY_SH = INFRA / "deploy.sh"
README = INFRA / "README.md"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CHECKOV_INSTALL = "python3 -m venv .venv-checkov && .venv-checkov/bin/pip install --require-hashes --no-deps -r requirements/checkov.txt"

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Built-in role definition IDs (identical in every Azure subscription).
ROLE_IDS = {
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Cognitive Services OpenAI User": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# The identity/role matrix of infra/README.md:
# (file, resource symbol) -> (role, scope resource symbol, principal parameter or None)
EXPECTED_ROLE_ASSIGNMENTS = {
    ("modules/storage.bicep", "gatewayConfigReader"): (
        "Storage Blob Data Reader", "configContainer", "gatewayPrincipalId"),
    ("modules/storage.bicep", "gatewayReportWriter"): (
        "Storage Blob Data Contributor", "configContainer", "gatewayPrincipalId"),
    ("modules/storage.bicep", "functionConfigContributor"): (
        "Storage Blob Data Contributor", "configContainer", "functionPrincipalId"),
    ("modules/storage.bicep", "operatorConfigContributors"): (
        "Storage Blob Data Contributor", "configContainer", "principalId"),
    ("modules/servicebus.bicep", "functionSender"): (
        "Azure Service Bus Data Sender", "topic", "functionPrincipalId"),
    ("modules/servicebus.bicep", "gatewayReceiver"): (
        "Azure Service Bus Data Receiver", "topic", "gatewayPrincipalId"),
    ("modules/servicebus.bicep", "gatewaySubscriptionManager"): (
        "Azure Service Bus Data Owner", "topic", "gatewayPrincipalId"),
    ("modules/functionapp.bicep", "functionHostBlobOwner"): (
        "Storage Blob Data Owner", "hostStorage", "functionPrincipalId"),
    ("modules/functionapp.bicep", "functionHostTableContributor"): (
        "Storage Table Data Contributor", "hostStorage", "functionPrincipalId"),
    ("modules/functionapp.bicep", "functionTelemetryPublisher"): (
        "Monitoring Metrics Publisher", "appInsights", "functionPrincipalId"),
    ("modules/eventgrid.bicep", "deadLetterWriter"): (
        "Storage Blob Data Contributor", "deadLetterContainer", None),
    ("modules/openai-role.bicep", "openAiUser"): (
        "Cognitive Services OpenAI User", "openAiAccount", "principalId"),
}  # fmt: skip

CONFIG_BLOB_SUBJECT = "/blobServices/default/containers/litellm-config/blobs/config.yaml"


# ---------------------------------------------------------------------------- bicep


@cache
def bicep(rel: str) -> dict[str, Any]:
    """Parse infra/<rel> with pycep (cached)."""
    return BicepParser().parse(file_path=INFRA / rel)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource/module body, unwrapping `if (...)` conditions and `for` loops."""
    config = resource["config"]
    if "config" in config and ("condition" in config or "loop_type" in config):
        return config["config"]
    return config


def resolve(template: dict[str, Any], value: Any) -> Any:
    """Resolve a bare identifier to its variable value or parameter default (else as is)."""
    seen = set()
    while isinstance(value, str) and value not in seen:
        seen.add(value)
        if value in template.get("variables", {}):
            value = template["variables"][value]["value"]
        elif value in template.get("parameters", {}) and "default" in template["parameters"][value]:
            value = template["parameters"][value]["default"]
        else:
            break
    return value


def render(text: str, values: dict[str, Any]) -> str:
    """Substitute simple ${name} interpolations."""
    return re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), text)


def resources_of_type(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by symbolic name."""
    return {k: v for k, v in template.get("resources", {}).items() if v["type"] == rtype}


def only(mapping: dict[str, Any]) -> Any:
    """The single value of a one-entry mapping."""
    assert len(mapping) == 1, sorted(mapping)
    return next(iter(mapping.values()))


def module_param(module: str, name: str) -> Any:
    """Value main.bicep passes to a module parameter, resolved within main.bicep."""
    main = bicep("main.bicep")
    return resolve(main, body(main["modules"][module])["params"][name])


def dotted(expr: Any) -> Any:
    """A pycep property-access tree (``a.b.c``) as the dotted text it was written as; other values unchanged."""
    if isinstance(expr, dict) and expr.get("operator", {}).get("type") == "property_accessor":
        operands = expr["operator"]["operands"]
        return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"
    return expr


def allowed_values(template: dict[str, Any], param: str) -> list[Any]:
    """The @allowed([...]) list of a parameter."""
    for decorator in template["parameters"][param].get("decorators", []):
        if decorator["type"] == "allowed":
            return list(decorator["argument"])
    raise AssertionError(f"parameter {param} has no @allowed list")


def unescape(text: str) -> str:
    r"""A bicep single-quoted string's value: pycep keeps the escapes (\' \\ \n \$) as written."""
    return re.sub(r"\\(['\\$n])", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def interpolate(text: str, values: dict[str, Any]) -> str:
    """Evaluate a bicep interpolated string: ``${expr}`` with identifiers, dotted access,
    'strings' and the functions ``toUpper``, ``toLower`` and ``replace``. Anything else raises."""
    return unescape(re.sub(r"\$\{([^}]*)\}", lambda m: str(_BicepExpr(m.group(1), values).parse()), text))


class _BicepExpr:
    _TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<name>[A-Za-z_][\w.]*)|(?P<punct>[(),]))")
    _FUNCTIONS: ClassVar[dict[str, Any]] = {
        "toUpper": lambda s: s.upper(),
        "toLower": lambda s: s.lower(),
        "replace": lambda s, old, new: s.replace(old, new),
    }

    def __init__(self, text: str, values: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text.rstrip()):
            m = self._TOKEN.match(text, pos)
            if m is None:
                raise ValueError(f"cannot evaluate bicep expression {text!r} at {text[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.values = values
        self.pos = 0

    def _next(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self._value()
        if self.pos != len(self.tokens):
            raise ValueError(f"trailing tokens in bicep expression: {self.tokens[self.pos:]}")
        return value

    def _value(self) -> Any:
        kind, text = self._next()
        if kind == "str":
            return unescape(text[1:-1])
        if kind != "name":
            raise ValueError(f"unexpected {text!r} in bicep expression")
        if self.pos < len(self.tokens) and self.tokens[self.pos] == ("punct", "("):
            self.pos += 1
            args = [self._value()]
            while self._next() == ("punct", ","):
                args.append(self._value())
            if text not in self._FUNCTIONS:
                raise ValueError(f"bicep function {text}() is not understood by this check")
            return self._FUNCTIONS[text](*args)
        value: Any = self.values
        for part in text.split("."):
            value = value[part]
        return value


# ---------------------------------------------------------------------------- ABAC conditions

#: Data actions of Storage Blob Data Contributor that change blobs (the role's dataActions,
#: minus read): a condition that limits writes must name every one of them.
BLOB_WRITE_ACTIONS = (
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
)
BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
BLOB_PATH = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]"


class AbacCondition:
    """An Azure role-assignment condition (version 2.0) for blob paths, evaluated offline.

    Understands the documented building blocks used by this repository: parentheses, ``!``,
    ``AND``, ``OR``, ``ActionMatches{'<data action>'}`` and ``<blob path attribute>``
    compared with ``StringEquals``, ``StringStartsWith`` or ``StringLike``. Anything else
    raises ``ValueError``.
    """

    _TOKEN = re.compile(
        r"\s*(?:(?P<action>ActionMatches\{'(?P<action_name>[^']+)'\})"
        r"|(?P<attr>@Resource\[[^\]]+\])\s+(?P<op>StringEquals|StringStartsWith|StringLike)\s+'(?P<value>[^']*)'"
        r"|(?P<punct>[()!])|(?P<word>AND|OR))"
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, ...]] = []
        pos = 0
        while pos < len(text.rstrip()):
            m = self._TOKEN.match(text, pos)
            if m is None:
                raise ValueError(f"condition not understood at {text[pos:pos + 60]!r}")
            if m.group("action"):
                self.tokens.append(("action", m.group("action_name")))
            elif m.group("attr"):
                if m.group("attr") != BLOB_PATH:
                    raise ValueError(f"only the blob path attribute is understood, got {m.group('attr')}")
                self.tokens.append(("path", m.group("op"), m.group("value")))
            else:
                self.tokens.append(("op", m.group("punct") or m.group("word")))
            pos = m.end()

    @property
    def actions(self) -> set[str]:
        return {t[1] for t in self.tokens if t[0] == "action"}

    def allows(self, action: str, path: str) -> bool:
        """Whether the condition lets ``action`` on the blob at ``path`` (within its container) through."""
        self._pos, self._action, self._path = 0, action, path
        result = self._or()
        if self._pos != len(self.tokens):
            raise ValueError(f"trailing tokens in condition: {self.tokens[self._pos:]}")
        return result

    def _peek(self) -> tuple[str, ...] | None:
        return self.tokens[self._pos] if self._pos < len(self.tokens) else None

    def _or(self) -> bool:
        value = self._and()
        while self._peek() == ("op", "OR"):
            self._pos += 1
            value = self._and() or value
        return value

    def _and(self) -> bool:
        value = self._factor()
        while self._peek() == ("op", "AND"):
            self._pos += 1
            value = self._factor() and value
        return value

    def _factor(self) -> bool:
        token = self._peek()
        if token is None:
            raise ValueError("condition ends too early")
        self._pos += 1
        if token == ("op", "!"):
            return not self._factor()
        if token == ("op", "("):
            value = self._or()
            if self._peek() != ("op", ")"):
                raise ValueError("unbalanced parentheses in condition")
            self._pos += 1
            return value
        if token[0] == "action":
            return token[1] == self._action
        if token[0] == "path":
            op, expected = token[1], token[2]
            if op == "StringEquals":
                return self._path == expected
            if op == "StringStartsWith":
                return self._path.startswith(expected)
            return fnmatch.fnmatchcase(self._path, expected)
        raise ValueError(f"unexpected {token} in condition")


def role_condition(rel: str, symbol: str) -> AbacCondition:
    """The evaluated ABAC condition of a role assignment in infra/<rel> (module defaults applied)."""
    template = bicep(rel)
    props = body(template["resources"][symbol])["properties"]
    assert props.get("conditionVersion") == "2.0", (rel, symbol)
    values = {name: resolve(template, name) for name in {**template.get("variables", {}), **template["parameters"]}}
    text = resolve(template, props["condition"])
    for _ in range(5):  # variables built from variables
        text = render(text, {k: v for k, v in values.items() if isinstance(v, (str, int))})
    return AbacCondition(unescape(text))


# ---------------------------------------------------------------------------- Kubernetes


def k8s_docs() -> dict[str, list[dict[str, Any]]]:
    """All Kubernetes manifests, by file name."""
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
        for p in sorted(K8S.glob("*.yaml"))
    }


def k8s_object(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one manifest object of a kind (and name)."""
    found = [
        d for docs in k8s_docs().values() for d in docs
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def gateway_container() -> dict[str, Any]:
    """The gateway container of the StatefulSet."""
    return only({c["name"]: c for c in k8s_object("StatefulSet")["spec"]["template"]["spec"]["containers"]})


def configmap_data() -> dict[str, str]:
    """Data of the gateway env ConfigMap."""
    return k8s_object("ConfigMap", "litellm-gateway-env")["data"]


def parameters_file() -> dict[str, Any]:
    """main.parameters.json's parameters."""
    return json.loads((INFRA / "main.parameters.json").read_text())["parameters"]


def readme_section(title: str) -> str:
    """One section of infra/README.md: from its heading to the next heading of that level or higher (code blocks skipped)."""
    lines = README.read_text().splitlines()
    in_code, start, level, out = False, None, 0, []
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"(#+) (.*?)\s*$", line)
        if start is None:
            if heading and heading.group(2) == title:
                start, level = True, len(heading.group(1))
            continue
        if heading and len(heading.group(1)) <= level:
            break
        out.append(line)
    assert start, f"infra/README.md has no section {title!r}"
    return "\n".join(out)
