"""The Service Bus message shape and the publisher's environment (unit, no services)."""

from __future__ import annotations

import pytest

from gateway import protocol
from gateway.errors import SettingsError
from gateway.publisher import Publisher, PublisherSettings, build_notice, publish, to_message
from gateway.publisher.clients import container_client, servicebus_client

CONN = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0LWtleS12YWx1ZQ==;"
    "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
)
SB_CONN = "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=Root;SharedAccessKey=TOPSECRETSAS;UseDevelopmentEmulator=true;"


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list = []

    def send_messages(self, message) -> None:
        self.sent.append(message)


def test_small_release_is_sent_inline() -> None:
    """A release up to INLINE_BODY_LIMIT travels as the message body with the protocol's properties and id."""
    data = b"x" * protocol.INLINE_BODY_LIMIT
    notice = build_notice(version="0a", sha256="f" * 64, release_blob="releases/0a.yaml", source_etag="0x1", data=data)
    sender = RecordingSender()
    message_id = publish(sender, notice)
    [message] = sender.sent
    assert b"".join(message.body) == data
    assert message_id == message.message_id == protocol.message_id("0a", "f" * 64)
    assert message.content_type == protocol.CONTENT_TYPE_YAML
    assert message.application_properties == notice.application_properties()
    assert message.application_properties[protocol.PROP_INLINE] is True


def test_large_release_is_sent_by_reference() -> None:
    """One byte over the limit: empty body, inline=False, same message id rule."""
    data = b"x" * (protocol.INLINE_BODY_LIMIT + 1)
    notice = build_notice(version="0a", sha256="e" * 64, release_blob="releases/0a.yaml", source_etag="0x1", data=data)
    message = to_message(notice)
    assert notice.body is None
    assert b"".join(message.body) == b""
    assert message.application_properties[protocol.PROP_INLINE] is False
    assert message.application_properties[protocol.PROP_RELEASE_BLOB] == "releases/0a.yaml"
    assert message.message_id == protocol.message_id("0a", "e" * 64)


def test_settings_from_connection_strings_with_defaults() -> None:
    """Connection strings alone are enough; container, blob and topic default to the protocol's names."""
    settings = PublisherSettings.from_env({"BLOB_CONNECTION_STRING": CONN, "SERVICEBUS_CONNECTION_STRING": SB_CONN})
    assert (settings.container, settings.config_blob, settings.topic) == ("litellm-config", "config.yaml", "config-updates")
    options = settings.validation_options()
    assert (options.mode, options.allowed_env, options.allow_literal_secrets) == ("publisher", None, False)


def test_settings_for_managed_identity_with_allow_list() -> None:
    """Account URL + namespace select managed identity; the allow-list and literal-secrets flag reach the validator."""
    settings = PublisherSettings.from_env(
        {
            "BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net/",
            "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE": "sb://ns.servicebus.windows.net/",
            "AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
            "BLOB_DOC_CONTAINER": "cfg",
            "BLOB_CONFIG_NAME": "team.yaml",
            "SERVICEBUS_TOPIC": "t",
            "GATEWAY_ALLOWED_ENV": "EASTUS_MI_CLIENT_ID, AZURE_TENANT_ID,",
            "GATEWAY_ALLOW_LITERAL_SECRETS": "true",
        }
    )
    assert settings.blob_account_url == "https://acct.blob.core.windows.net"
    assert settings.servicebus_namespace == "ns.servicebus.windows.net"
    assert settings.validation_options().allowed_env == frozenset({"EASTUS_MI_CLIENT_ID", "AZURE_TENANT_ID"})
    assert settings.validation_options().allow_literal_secrets is True
    assert (settings.blob_auth, settings.servicebus_auth) == ("MI", "MI")
    assert settings.blob_client_id == settings.servicebus_client_id == "11111111-2222-3333-4444-555555555555"
    assert "managed identity 11111111-2222" in settings.describe()


def test_auth_type_and_per_service_identity_follow_the_gateway_variables() -> None:
    """BLOB_AUTH_TYPE=MI wins over a stray connection string; *_MI_CLIENT_ID overrides AZURE_CLIENT_ID per service."""
    settings = PublisherSettings.from_env(
        {
            "BLOB_AUTH_TYPE": "MI",
            "BLOB_CONNECTION_STRING": CONN,
            "BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net",
            "BLOB_MI_CLIENT_ID": "aaaaaaaa-2222-3333-4444-555555555555",
            "AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
            "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE": "ns.servicebus.windows.net",
        }
    )
    assert settings.blob_auth == "MI" and settings.blob_connection_string is None
    assert settings.blob_client_id.startswith("aaaaaaaa") and settings.servicebus_client_id.startswith("11111111")
    with pytest.raises(SettingsError, match="SERVICEBUS_CONNECTION_STRING: required when SERVICEBUS_AUTH_TYPE"):
        PublisherSettings.from_env({"BLOB_CONNECTION_STRING": CONN, "SERVICEBUS_AUTH_TYPE": "connection_string"})


def test_missing_and_malformed_settings_name_their_variables() -> None:
    """One SettingsError lists every bad variable by name."""
    with pytest.raises(SettingsError) as caught:
        PublisherSettings.from_env(
            {
                "AZURE_CLIENT_ID": "not-a-guid",
                "GATEWAY_ALLOWED_ENV": "OK_NAME,bad-name",
                "GATEWAY_ALLOW_LITERAL_SECRETS": "perhaps",
                "BLOB_DOC_CONTAINER": "Bad_Container",
            }
        )
    names = {p.variable for p in caught.value.problems}
    assert names == {
        "BLOB_ACCOUNT_URL",
        "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE",
        "AZURE_CLIENT_ID",
        "GATEWAY_ALLOWED_ENV",
        "GATEWAY_ALLOW_LITERAL_SECRETS",
        "BLOB_DOC_CONTAINER",
    }


def test_secrets_never_show_in_repr_or_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """Connection strings are masked in the settings' repr and absent from the publisher's startup log."""
    settings = PublisherSettings.from_env({"BLOB_CONNECTION_STRING": CONN, "SERVICEBUS_CONNECTION_STRING": SB_CONN})
    with caplog.at_level("DEBUG"):
        publisher = Publisher.from_settings(settings)
        publisher.close()
    for text in (repr(settings), settings.describe(), caplog.text):
        assert "c2VjcmV0LWtleS12YWx1ZQ" not in text and "TOPSECRETSAS" not in text


def test_clients_follow_the_settings() -> None:
    """Connection-string settings build clients for the configured container and emulator endpoint."""
    settings = PublisherSettings.from_env(
        {"BLOB_CONNECTION_STRING": CONN, "SERVICEBUS_CONNECTION_STRING": SB_CONN, "BLOB_DOC_CONTAINER": "cfg"}
    )
    container = container_client(settings)
    assert (container.container_name, container.account_name) == ("cfg", "devstoreaccount1")
    with servicebus_client(settings) as sb:
        assert sb.fully_qualified_namespace.startswith("127.0.0.1")
    mi = PublisherSettings.from_env(
        {"BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net", "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE": "ns.servicebus.windows.net"}
    )
    assert container_client(mi).url == "https://acct.blob.core.windows.net/litellm-config"
    with servicebus_client(mi) as sb:
        assert sb.fully_qualified_namespace == "ns.servicebus.windows.net"
