"""infra/deploy.sh, run against a fake `az`: what it deploys, publishes and prints, in which order,
and that infra/README.md's walkthrough describes the same steps."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.infra.helpers import DEPLOY_SH, README, REPO, only, readme_section

FAKE_AZ = textwrap.dedent(
    r"""
    #!/usr/bin/env bash
    # Stand-in for the Azure CLI: records each call, answers the queries deploy.sh makes, and
    # keeps a little state in $FAKE_AZ_DIR (deployed? published?) like the real service would.
    printf '%s\n' "$*" >> "$FAKE_AZ_DIR/az.log"
    args="$*"
    case "$args" in
      "account show"*) exit 0 ;;
      "group "*) exit 0 ;;
      "deployment group create"*"--what-if"*) exit 0 ;;
      "deployment group create"*) touch "$FAKE_AZ_DIR/deployed"; exit 0 ;;
      "deployment group show"*)
        [[ -f "$FAKE_AZ_DIR/deployed" || "${FAKE_DEPLOYED_BEFORE:-0}" == 1 ]] || { echo "DeploymentNotFound" >&2; exit 3; } ;;
      "functionapp deployment source config-zip"*)
        src="$(printf '%s\n' "$@" | sed -n '/^--src$/{n;p}')"
        cp "$src" "$FAKE_AZ_DIR/published.zip"
        [[ "${FAKE_PUBLISH_REGISTERS:-1}" == 1 ]] && touch "$FAKE_AZ_DIR/function"
        exit 0 ;;
      "functionapp function show"*)
        [[ "${FAKE_FUNCTION_EXISTS:-0}" == 1 || -f "$FAKE_AZ_DIR/function" ]]; exit $? ;;
      *) echo "fake az: unexpected: $args" >&2; exit 9 ;;
    esac
    case "$args" in
      *"gatewayEnv.value"*)
        printf 'BLOB_AUTH_TYPE\tMI\r\nBLOB_ACCOUNT_URL\thttps://litellmgwcfgabc.blob.core.windows.net\n'
        printf 'EASTUS_MI_CLIENT_ID\t11111111-1111-1111-1111-111111111111\n' ;;
      *"outputs.functionAppName.value"*) echo "litellmgw-cfgfn-abc" ;;
      *"outputs.storageAccountName.value"*) echo "litellmgw" ;;
      *"outputs.GATEWAY_MI_CLIENT_ID.value"*) echo "33333333-3333-3333-3333-333333333333" ;;
      *"outputs.serviceBusSubscriptions.value"*) printf 'replica-0\nreplica-1\nreplica-2\n' ;;
      *) echo "fake az: unexpected: $args" >&2; exit 9 ;;
    esac
    """
).lstrip()

#: deploy.sh's steps: (number, name, the az command that does it or None).
STEPS = [
    (1, "resource group", "az group create"),
    (2, "infrastructure", "az deployment group create"),
    (3, "package", None),
    (4, "publish", "az functionapp deployment source config-zip"),
    (5, "wait", "az functionapp function show"),
    (6, "event subscription", "az deployment group create"),
    (7, "print", "az deployment group show"),
]


class Run:
    """One deploy.sh run: the process, the az calls in order, and the fake's state folder."""

    def __init__(self, proc: subprocess.CompletedProcess, state: Path) -> None:
        self.proc = proc
        self.state = state
        self.calls = (state / "az.log").read_text().splitlines()
        self.out = proc.stdout

    def creates(self) -> list[str]:
        return [c for c in self.calls if c.startswith("deployment group create")]

    def published(self) -> list[str]:
        return [c for c in self.calls if c.startswith("functionapp deployment source config-zip")]

    def steps(self) -> list[str]:
        """The step headers deploy.sh printed, in order."""
        return re.findall(r"^== Step (\S+?): (.+?) ==$", self.out, re.MULTILINE)


def run_deploy(tmp_path: Path, *args: str, **fake: str) -> Run:
    """Run infra/deploy.sh with a fake az first on PATH (FAKE_* settings as keyword arguments)."""
    state = tmp_path / "az-state"
    bindir = tmp_path / "bin"
    for folder in (state, bindir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    (state / "az.log").write_text("")
    az = bindir / "az"
    az.write_text(FAKE_AZ)
    az.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": sys.executable,
        "FAKE_AZ_DIR": str(state),
        "LITELLM_MASTER_KEY": "sk-must-never-be-printed",
        **{f"FAKE_{k.upper()}": v for k, v in fake.items() if not k.isupper()},
        **{k: v for k, v in fake.items() if k.isupper()},
    }
    proc = subprocess.run(["bash", str(DEPLOY_SH), *args], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return Run(proc, state)


def test_deploy_script_syntax():
    """deploy.sh passes bash -n and runs in strict mode."""
    bash = shutil.which("bash")
    assert bash, "bash is required"
    proc = subprocess.run([bash, "-n", str(DEPLOY_SH)], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = DEPLOY_SH.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert os.access(DEPLOY_SH, os.X_OK)


def test_what_if_deploys_and_publishes_nothing(tmp_path: Path):
    """--what-if runs az deployment group create --what-if with main.bicep and the parameters file, and nothing else."""
    run = run_deploy(tmp_path, "-g", "rg-test", "--what-if")
    assert run.proc.returncode == 0, run.proc.stderr
    create = only({c: c for c in run.creates()})
    assert "--what-if" in create
    assert "--resource-group rg-test" in create
    assert "--template-file infra/main.bicep" in create
    assert "--parameters @infra/main.parameters.json" in create
    assert "deployEventSubscription=false" in create
    assert not any(c.startswith("group create") for c in run.calls)
    assert run.published() == [] and not (run.state / "published.zip").exists()


def test_first_deployment_publishes_the_package_then_creates_the_event_subscription(tmp_path: Path):
    """From nothing: infra without the subscription, publish the package (remote build), wait for the function, then the subscription."""
    env_file = tmp_path / "gateway.env"
    run = run_deploy(tmp_path, "-g", "rg-test", "-l", "eastus", "--env-file", str(env_file))
    assert run.proc.returncode == 0, run.proc.stderr + run.out
    first, second = run.creates()
    assert "deployEventSubscription=false" in first and "--what-if" not in first
    assert "deployEventSubscription=true" in second
    [publish] = run.published()
    assert "--resource-group rg-test --name litellmgw-cfgfn-abc" in publish
    assert "--build-remote true" in publish
    order = [i for i, c in enumerate(run.calls) if c in (first, publish, second)]
    assert order == sorted(order) and [run.calls[i] for i in order] == [first, publish, second]
    shows = [i for i, c in enumerate(run.calls) if c.startswith("functionapp function show")]
    assert any(run.calls.index(publish) < i < run.calls.index(second) for i in shows)
    assert "receives BlobCreated for litellm-config/config.yaml" in run.out
    assert "not published" not in run.out


def test_published_zip_is_the_packaging_commands_output(tmp_path: Path):
    """What deploy.sh publishes is byte for byte what `python function_app/package.py` builds: app files plus the vendored gateway."""
    run = run_deploy(tmp_path, "-g", "rg-test", "-l", "eastus")
    assert run.proc.returncode == 0, run.proc.stderr
    reference = tmp_path / "reference.zip"
    subprocess.run([sys.executable, str(REPO / "function_app" / "package.py"), "--output", str(reference)], check=True, capture_output=True)
    published = run.state / "published.zip"
    assert published.read_bytes() == reference.read_bytes()
    names = zipfile.ZipFile(published).namelist()
    assert {"function_app.py", "host.json", "requirements.txt", "gateway/publisher/__init__.py"} <= set(names)
    assert not [n for n in names if n.startswith(("devstack/", "tests/")) or "local.settings" in n or n.endswith(".pyc")]


def test_redeploy_with_the_function_published_deploys_once(tmp_path: Path):
    """When on_config_blob_created already exists, one deployment includes the subscription; the code is still republished."""
    run = run_deploy(tmp_path, "-g", "rg-test", function_exists="1", deployed_before="1")
    assert run.proc.returncode == 0, run.proc.stderr
    create = only({c: c for c in run.creates()})
    assert "deployEventSubscription=true" in create
    assert len(run.published()) == 1
    assert "already deployed in step 2" in run.out


def test_deploys_and_prints_env_without_secrets(tmp_path: Path):
    """A real run prints the gateway env and the blob upload command, writes the env file, and never prints secrets."""
    env_file = tmp_path / "gateway.env"
    run = run_deploy(tmp_path, "-g", "rg-test", "-l", "eastus", "--env-file", str(env_file))
    assert run.proc.returncode == 0, run.proc.stderr
    assert any(c.startswith("group create --name rg-test --location eastus") for c in run.calls)
    out = run.out
    assert "BLOB_ACCOUNT_URL=https://litellmgwcfgabc.blob.core.windows.net" in out
    assert "EASTUS_MI_CLIENT_ID=11111111-1111-1111-1111-111111111111" in out
    assert "az storage blob upload --auth-mode login" in out
    assert "--account-name litellmgw --container-name litellm-config" in out
    assert "sk-must-never-be-printed" not in out + run.proc.stderr
    lines = env_file.read_text().splitlines()
    assert lines[0] == "BLOB_AUTH_TYPE=MI"
    assert all("\r" not in line for line in lines)


def test_skip_publish_leaves_the_subscription_until_the_function_exists(tmp_path: Path):
    """--skip-publish deploys the infra only; without the function there is no subscription, and the next step is said."""
    run = run_deploy(tmp_path, "-g", "rg-test", "--skip-publish")
    assert run.proc.returncode == 0, run.proc.stderr
    create = only({c: c for c in run.creates()})
    assert "deployEventSubscription=false" in create
    assert run.published() == []
    assert "on_config_blob_created is not published yet" in run.out
    assert "infra/deploy.sh -g rg-test" in run.out


def test_a_function_that_never_appears_fails_before_the_subscription(tmp_path: Path):
    """If the host never lists the function after publishing, deploy.sh fails and creates no subscription."""
    run = run_deploy(tmp_path, "-g", "rg-test", publish_registers="0", FUNCTION_WAIT_SECONDS="0")
    assert run.proc.returncode != 0
    assert "did not appear" in run.proc.stderr
    create = only({c: c for c in run.creates()})
    assert "deployEventSubscription=false" in create


def test_event_subscription_false_never_creates_it(tmp_path: Path):
    """--event-subscription false publishes the code but never deploys the subscription."""
    run = run_deploy(tmp_path, "-g", "rg-test", "--event-subscription", "false")
    assert run.proc.returncode == 0, run.proc.stderr
    assert [("deployEventSubscription=false" in c) for c in run.creates()] == [True]
    assert len(run.published()) == 1


def test_deploy_script_rejects_bad_arguments(tmp_path: Path):
    """Missing resource group or an unknown flag fails before any deployment."""
    for args in ((), ("-g", "rg", "--bogus"), ("-g", "rg", "--event-subscription", "maybe")):
        run = run_deploy(tmp_path, *args)
        assert run.proc.returncode != 0, args
        assert run.creates() == [], args


# ---------------------------------------------------------------------------- README walkthrough


def _readme_steps() -> list[tuple[int, str, str]]:
    """The numbered steps of infra/README.md's "What deploy.sh does": (number, name, first command)."""
    section = readme_section("What `infra/deploy.sh` does")
    steps = re.findall(r"^(\d+)\. \*\*(.+?)\*\*[^`\n]*`([^`]+)`", section, re.MULTILINE)
    return [(int(n), name.lower(), command) for n, name, command in steps]


def test_readme_walkthrough_lists_deploy_sh_steps_in_order():
    """infra/README.md names deploy.sh's steps in deploy.sh's order, each with the command deploy.sh runs."""
    readme = _readme_steps()
    assert [(n, name) for n, name, _ in readme] == [(n, name) for n, name, _ in STEPS]
    for (_, name, command), (_, _, az) in zip(readme, STEPS, strict=True):
        if az is not None:
            assert command.startswith(az), (name, command)
    assert readme[2][2].startswith("python3 function_app/package.py")
    header = re.findall(r"^#\s+(\d)\. (\S.*?)\s{2,}", DEPLOY_SH.read_text(), re.MULTILINE)
    assert [(int(n), name.strip()) for n, name in header] == [(n, name) for n, name, _ in STEPS]


def test_a_run_follows_the_readme_walkthrough(tmp_path: Path):
    """A first deployment prints deploy.sh's steps in the README's order, and its az calls come in that order too."""
    run = run_deploy(tmp_path, "-g", "rg-test", "-l", "eastus")
    assert run.proc.returncode == 0, run.proc.stderr
    printed = [(int(n), title) for n, title in run.steps()]
    assert [n for n, _ in printed] == [n for n, _, _ in STEPS]
    for (n, title), (_, name, _) in zip(printed, STEPS, strict=True):
        assert title.lower().startswith(name), (n, title)
    # The README's az commands occur in the az log in the README's order.
    position = 0
    for _, name, command in _readme_steps():
        if not command.startswith("az "):
            continue
        words = []
        for word in command.removeprefix("az ").split():
            if word.startswith(("-", "...")):
                break
            words.append(word)
        found = [i for i, call in enumerate(run.calls) if i >= position and call.split()[: len(words)] == words]
        assert found, f"step {name}: no `az {' '.join(words)}` after call {position}: {run.calls}"
        position = found[0] + 1


def test_readme_documents_deploy_and_offline_checks():
    """infra/README.md has the deploy command, the env mapping and the offline-check note."""
    text = README.read_text()
    for needle in ("infra/deploy.sh", "az deployment group create", "pycep", "checkov",
                   "BLOB_ACCOUNT_URL", "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", "replica-0",
                   "python3 -m venv .venv-checkov && .venv-checkov/bin/pip install --require-hashes --no-deps -r requirements/checkov.txt"):  # fmt: skip
        assert needle in text, needle


@pytest.mark.parametrize("path", ["infra/README.md", "function_app/README.md"])
def test_no_doc_publishes_the_function_folder_directly(path: str):
    """No doc tells an operator to publish function_app/ as is: without the vendored gateway the host finds no functions."""
    text = (REPO / path).read_text()
    assert "func azure functionapp publish" not in text
    assert "function_app/package.py" in text
