"""The one seam to Azure: credential choice and error translation, with the real SDK classes."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential
from azure.identity import aio as identity_aio
from azure.servicebus.exceptions import ServiceBusConnectionError

from gateway.cloud.credentials import Endpoint, credential
from gateway.cloud.errors import translated
from gateway.errors import GatewayError, SourceError, SourceNotFound, SourceUnavailable
from gateway.settings import Secret

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def test_user_assigned_identity_when_a_client_id_is_given() -> None:
    assert isinstance(credential(CLIENT_ID, aio=False, env={}), ManagedIdentityCredential)
    assert isinstance(credential(CLIENT_ID, aio=True, env={}), identity_aio.ManagedIdentityCredential)


def test_workload_identity_when_the_pod_has_a_federated_token(tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJ.fake.jwt")
    env = {"AZURE_FEDERATED_TOKEN_FILE": str(token), "AZURE_TENANT_ID": "22222222-3333-4444-5555-666666666666"}
    assert isinstance(credential(CLIENT_ID, aio=False, env=env), WorkloadIdentityCredential)
    assert isinstance(credential(CLIENT_ID, aio=True, env=env), identity_aio.WorkloadIdentityCredential)


def test_default_chain_without_a_client_id() -> None:
    assert isinstance(credential(None, aio=False, env={}), DefaultAzureCredential)
    assert isinstance(credential(None, aio=True, env={}), identity_aio.DefaultAzureCredential)


def test_endpoint_description_never_shows_the_connection_string() -> None:
    endpoint = Endpoint("CONNECTION_STRING", None, Secret("AccountName=a;AccountKey=c2VjcmV0"))
    assert "c2VjcmV0" not in endpoint.describe("BLOB_CONNECTION_STRING")
    assert "c2VjcmV0" not in repr(endpoint)
    assert Endpoint("MI", "https://a.blob.core.windows.net", None, CLIENT_ID).describe("X") == (
        f"managed identity {CLIENT_ID} -> https://a.blob.core.windows.net"
    )


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ResourceNotFoundError("gone"), SourceNotFound),
        (HttpResponseError("503 Server Busy"), SourceUnavailable),
        (ServiceRequestError("connection refused"), SourceUnavailable),
        (ClientAuthenticationError("no token yet"), SourceUnavailable),
        (ServiceBusConnectionError(message="amqp link detached"), SourceUnavailable),
        (TimeoutError(), SourceUnavailable),
        (ConnectionResetError(), SourceUnavailable),
    ],
)
def test_sdk_errors_become_gateway_source_errors(raised: Exception, expected: type[SourceError]) -> None:
    with pytest.raises(expected) as info, translated("reading releases/current.json"):
        raise raised
    assert isinstance(info.value, GatewayError)
    assert info.value.__cause__ is raised
    assert "reading releases/current.json" in str(info.value)


def test_conditional_outcomes_pass_through_for_the_caller() -> None:
    with pytest.raises(ResourceModifiedError), translated("cas"):
        raise ResourceModifiedError("412")


def test_programming_errors_are_not_disguised_as_transient() -> None:
    with pytest.raises(KeyError), translated("x"):
        raise KeyError("bug")
