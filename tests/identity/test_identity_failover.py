"""Multi-region failover with per-region identities, using the seed's router_settings."""

from __future__ import annotations

import asyncio
import time

import litellm
import pytest

from gateway.identity import CredentialRegistry, DatabricksTokenCache, bind_identities
from gateway.identity.hook import DatabricksAuthHook
from tests.fakes.fake_llm_server import Fault
from tests.fakes.token_server import FakeTokenServer
from tests.identity._support import Regions, ask, make_router


async def test_east_429_500_and_timeout_are_absorbed_by_west(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    regions: Regions,
) -> None:
    """East answers 429, then 500, then hangs; every request still succeeds via west, with west's own token."""
    east, west, east_id, west_id = regions.east, regions.west, regions.east_id, regions.west_id
    bound = bind_identities(regions.model_list(), registry, dbx_cache)
    # Seed router_settings (simple-shuffle, num_retries 2); timeout 1 s instead of 600 s so the hang
    # is a timeout within the test, and a short cooldown so east is offered again quickly.
    router = make_router(bound, timeout=1.0, cooldown_time=0.3)
    east.enqueue(Fault(status=429), Fault(status=500), Fault(delay_s=3.0))

    answers: list[str] = []
    deadline = time.monotonic() + 30
    while east.pending_faults() and time.monotonic() < deadline:
        answers.append(await ask(router))
        await asyncio.sleep(0.1)
    for _ in range(4):  # after the incident both regions serve again
        answers.append(await ask(router))

    assert east.pending_faults() == 0, "the router never offered east its three bad turns"
    incident = [(r.status, r.delay_s) for r in east.requests[:3]]
    assert incident == [(429, 0.0), (500, 0.0), (200, 3.0)]
    assert all(a.startswith(("east:", "west:")) for a in answers), answers
    assert west.ok_requests(), "west should have served the failed-over requests"
    assert {r.bearer for r in west.requests} == {f"tok-{west_id}-1"}
    assert {r.bearer for r in east.requests} == {f"tok-{east_id}-1"}


async def test_region_whose_identity_fails_is_skipped(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    regions: Regions, dbx_hook: DatabricksAuthHook,
) -> None:
    """If east's managed identity cannot get a token, the gateway's hook routes to west and east is never called."""
    east, west, east_id, west_id = regions.east, regions.west, regions.east_id, regions.west_id
    token_server.refuse(east_id, 400)
    bound = bind_identities(regions.model_list(), registry, dbx_cache)
    failures = registry.prefetch()
    router = make_router(bound, cooldown_time=5)

    answers = [await ask(router) for _ in range(8)]

    assert list(failures) == [f"managed_identity client_id={east_id}"]
    assert all(a.startswith("west:") for a in answers)
    assert east.requests == []
    assert {r.bearer for r in west.requests} == {f"tok-{west_id}-1"}


async def test_every_identity_failing_gives_503_naming_no_identity(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    regions: Regions, dbx_hook: DatabricksAuthHook,
) -> None:
    """With both regions' identities refused the caller gets a 503-class error without client ids; health has them."""
    token_server.refuse(regions.east_id, 400)
    token_server.refuse(regions.west_id, 400)
    bound = bind_identities(regions.model_list(), registry, dbx_cache)
    registry.prefetch()
    router = make_router(bound)

    with pytest.raises(litellm.ServiceUnavailableError) as caught:
        await ask(router)

    assert caught.value.status_code == 503
    assert regions.east_id not in str(caught.value) and regions.west_id not in str(caught.value)
    assert regions.east.requests == [] and regions.west.requests == []
    states = {spec.client_id: stats for (spec, _), stats in registry.stats.items()}
    assert states[regions.east_id].failing_since is not None and states[regions.east_id].last_error
