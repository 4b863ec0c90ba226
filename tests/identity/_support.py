"""Helpers shared by the identity tests: build a real LiteLLM Router and send one chat request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litellm import Router

from gateway.identity.binding import BoundModelList
from tests.fakes.fake_llm_server import FakeLLMServer

SEED_ROUTER_SETTINGS: dict[str, Any] = {"routing_strategy": "simple-shuffle", "num_retries": 2, "timeout": 600}
"""router_settings of the seed README's Quick Start config."""


@dataclass(frozen=True)
class Regions:
    """The seed's two regions: a fake Azure OpenAI endpoint and a managed identity client id each."""

    east: FakeLLMServer
    west: FakeLLMServer
    east_id: str
    west_id: str

    def model_list(self) -> list[dict[str, Any]]:
        return seed_quick_start(self.east, self.west, self.east_id, self.west_id)


def make_router(bound: BoundModelList, **router_settings: Any) -> Router:
    """A real LiteLLM Router on the bound list with the seed's router_settings (timeout 30 s unless given)."""
    settings = {**SEED_ROUTER_SETTINGS, "timeout": 30}
    settings.update(router_settings)
    return Router(model_list=bound.model_list, **settings)


async def ask(router: Router, model: str = "gpt-4") -> str:
    response = await router.acompletion(model=model, messages=[{"role": "user", "content": "hi"}])
    return response.choices[0].message.content


def seed_quick_start(east: FakeLLMServer, west: FakeLLMServer, east_id: str, west_id: str) -> list[dict[str, Any]]:
    """The seed README's Quick Start model_list, os.environ/ references resolved, api_base on loopback."""

    def entry(region: str, server: FakeLLMServer, client_id: str) -> dict[str, Any]:
        return {
            "model_name": "gpt-4",
            "litellm_params": {
                "model": f"azure/gpt-4-{region}",
                "api_base": server.base_url + "/",
                "api_version": "2024-02-01",
                "client_id": client_id,
                "tenant_id": "tenant-seed",
            },
            "litellm_settings": {"enable_azure_ad_token_refresh": True},
        }

    return [entry("eastus", east, east_id), entry("westus", west, west_id)]
