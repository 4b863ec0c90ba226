"""Multi-region failover through a real gateway with the seed's router_settings (issue 8, item 10).

One ``genai-gateway serve --config FILE`` process is shared by the module; two fake Azure
regions on loopback serve the group ``gpt-4``. East keeps failing in one way per test while
west is healthy: no client request may fail, no request may reach east twice (a retry never
goes back to a deployment that already failed for it while west is untried), and once east
recovers it serves traffic again. Counts only, no timing asserts.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.fake_llm_server import FakeLLMServer, Fault, _Handler
from tests.support.file_gateway import apply_config, azure_deployment, file_gateway
from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
HI = [{"role": "user", "content": "hi"}]
REQUESTS = 20
#: The seed README's router_settings; apply() adds a ~1 s timeout (not 600 s) so a hung region times out here.
SEED_ROUTER = {"routing_strategy": "simple-shuffle", "num_retries": 2}


class PortServer(FakeLLMServer):
    """A FakeLLMServer that can be bound to a given port: a region whose port closes and reopens."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(name)
        self.port = port

    def start(self) -> PortServer:
        import threading

        handler = type("Handler", (_Handler,), {"fake": self})
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self


@dataclass
class Stack:
    gateway: GatewayProcess
    config: Path
    east: FakeLLMServer
    west: FakeLLMServer
    applies: int = 0

    def ask(self) -> httpx.Response:
        return httpx.post(f"{self.gateway.base_url}/v1/chat/completions", json={"model": "gpt-4", "messages": HI},
                          headers=AUTH, timeout=60)


def apply(stack: Stack, east_url: str | None = None, router: dict[str, Any] | None = None) -> None:
    """Apply the seed-like config (a new router: no cooldowns carried over) and forget earlier calls."""
    stack.applies += 1
    # The timeout differs per apply only so each apply is a new config, hence a fresh router.
    router = {**SEED_ROUTER, "timeout": 1 + stack.applies / 1000, **(router or {})}
    body = {
        "model_list": [azure_deployment(east_url or stack.east.base_url, "d-east"), azure_deployment(stack.west.base_url, "d-west")],
        "litellm_settings": {"cache": False},
        "router_settings": router,
    }
    apply_config(stack.gateway, stack.config, yaml.safe_dump(body, sort_keys=False).encode(), (stack.east, stack.west))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("failover")
    with FakeLLMServer("east", max_delay_s=5) as east, FakeLLMServer("west") as west, file_gateway(work) as proc:
        result = Stack(proc, work / "config.yaml", east, west)
        body = {"model_list": [azure_deployment(east.base_url, "d-east"), azure_deployment(west.base_url, "d-west")],
                "litellm_settings": {"cache": False}, "router_settings": SEED_ROUTER}
        result.config.write_bytes(yaml.safe_dump(body, sort_keys=False).encode())
        proc.start(timeout=240)
        yield result


def assert_east_back(stack: Stack) -> None:
    """After the outage east serves a request again (LiteLLM's cooldown, if any, ends)."""

    def east_served() -> bool:
        response = stack.ask()
        assert response.status_code == 200, response.text
        return any(r.status == 200 for r in stack.east.requests)

    wait_until(east_served, timeout=60, interval=0.2, what="east serving again after its outage")


FAULTS = {
    "429-retry-after-0": Fault(status=429, headers=(("retry-after", "0"),)),
    "429-no-retry-after": Fault(status=429),
    "500": Fault(status=500),
    "503": Fault(status=503),
    "timeout": Fault(delay_s=3.0),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_failing_region_never_reaches_the_client(stack: Stack, kind: str) -> None:
    """East fails every request in one way; all requests succeed via west, none goes to east twice."""
    apply(stack)
    stack.east.enqueue(*([FAULTS[kind]] * 1000))

    statuses = [stack.ask().status_code for _ in range(REQUESTS)]

    assert statuses == [200] * REQUESTS, f"{statuses.count(200)}/{REQUESTS} succeeded: {statuses}"
    assert len(stack.east.requests) <= REQUESTS, "a retry went back to east, which had already failed"
    assert len(stack.west.ok_requests()) == REQUESTS
    stack.east.reset()  # the outage ends
    assert_east_back(stack)


def test_region_with_closed_port_never_reaches_the_client_and_comes_back(stack: Stack) -> None:
    """East's port is closed (connection refused): all requests succeed via west; east serves once it reopens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    apply(stack, east_url=f"http://127.0.0.1:{port}")

    statuses = [stack.ask().status_code for _ in range(REQUESTS)]

    assert statuses == [200] * REQUESTS, f"{statuses.count(200)}/{REQUESTS} succeeded: {statuses}"
    assert len(stack.west.ok_requests()) == REQUESTS
    with PortServer("east", port) as reopened:

        def east_served() -> bool:
            assert stack.ask().status_code == 200
            return bool(reopened.ok_requests())

        wait_until(east_served, timeout=60, interval=0.2, what="east serving again once its port reopened")


def test_both_regions_failing_fails_after_trying_each_once(stack: Stack) -> None:
    """With no healthy region the request fails, after each deployment was tried (and not more than the retries)."""
    apply(stack)
    for fake in (stack.east, stack.west):
        fake.enqueue(*([Fault(status=500)] * 10))

    response = stack.ask()

    assert response.status_code == 500, response.text
    assert len(stack.east.requests) >= 1 and len(stack.west.requests) >= 1
    assert len(stack.east.requests) + len(stack.west.requests) == 3, "num_retries: 2 means three attempts"


def test_num_retries_zero_is_one_attempt(stack: Stack) -> None:
    """The extra failover round honours an operator's num_retries: 0 (no retry at all)."""
    apply(stack, router={"num_retries": 0})
    for fake in (stack.east, stack.west):
        fake.enqueue(*([Fault(status=500)] * 5))

    assert stack.ask().status_code == 500
    assert len(stack.east.requests) + len(stack.west.requests) == 1
