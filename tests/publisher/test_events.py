"""Parsing Event Grid BlobCreated events in both schemas, and what is ignored (unit, no services)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func
import pytest

from devstack.eventgrid import blob_created_event, to_cloudevent, to_functions_event
from gateway.publisher.events import BlobCreated, InvalidEvent, event_to_dict, normalize_etag, parse_event

SEQ = "00000000000004420000000000028963"
# An event as the Azure docs show it for Microsoft.Storage.BlobCreated (Event Grid schema).
EVENT_GRID = {
    "topic": "/subscriptions/1111/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/acct",
    "subject": "/blobServices/default/containers/litellm-config/blobs/config.yaml",
    "eventType": "Microsoft.Storage.BlobCreated",
    "eventTime": "2017-06-26T18:41:00.9584103Z",
    "id": "831e1650-001e-001b-66ab-eeb76e069631",
    "data": {
        "api": "PutBlockList",
        "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
        "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
        "eTag": "0x8D4BCC2E4835CD0",
        "contentType": "application/x-yaml",
        "contentLength": 524,
        "blobType": "BlockBlob",
        "url": "https://acct.blob.core.windows.net/litellm-config/config.yaml",
        "sequencer": SEQ,
        "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
    },
    "dataVersion": "",
    "metadataVersion": "1",
}
CLOUD = {
    "specversion": "1.0",
    "type": "Microsoft.Storage.BlobCreated",
    "source": EVENT_GRID["topic"],
    "id": EVENT_GRID["id"],
    "time": EVENT_GRID["eventTime"],
    "subject": EVENT_GRID["subject"],
    "data": EVENT_GRID["data"],
}
EXPECTED = BlobCreated(
    url="https://acct.blob.core.windows.net/litellm-config/config.yaml",
    container="litellm-config",
    blob_name="config.yaml",
    etag="0x8D4BCC2E4835CD0",
    sequencer=SEQ,
    content_length=524,
    api="PutBlockList",
    subject="/blobServices/default/containers/litellm-config/blobs/config.yaml",
    event_id="831e1650-001e-001b-66ab-eeb76e069631",
)


def _with(event: dict, **changes: object) -> dict:
    copy = {**event, "data": dict(event["data"])}
    for key, value in changes.items():
        if key.startswith("data_"):
            copy["data"][key[5:]] = value
        else:
            copy[key] = value
    return copy


def test_event_grid_schema_parses_to_blob_created() -> None:
    """An Event Grid schema BlobCreated event for the watched blob yields every field the publisher needs."""
    assert parse_event(EVENT_GRID) == EXPECTED


def test_cloudevents_schema_parses_to_the_same_value() -> None:
    """The same event in CloudEvents 1.0 schema yields the identical BlobCreated."""
    assert parse_event(CLOUD) == EXPECTED


def test_functions_objects_parse_like_dicts() -> None:
    """func.EventGridEvent and func.CloudEvent (as the worker decodes them) parse like the raw payloads."""
    eg = to_functions_event(EVENT_GRID)
    ce = to_functions_event(CLOUD)
    assert isinstance(eg, func.EventGridEvent) and isinstance(ce, func.CloudEvent)
    assert parse_event(eg) == EXPECTED
    assert parse_event(ce) == EXPECTED
    assert event_to_dict(eg)["eventType"] == "Microsoft.Storage.BlobCreated"
    assert event_to_dict(ce)["specversion"] == "1.0"


def test_data_as_json_string_is_accepted() -> None:
    """A data payload delivered as a JSON string is decoded before use."""
    import json

    assert parse_event({**EVENT_GRID, "data": json.dumps(EVENT_GRID["data"])}) == EXPECTED


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_with(EVENT_GRID, eventType="Microsoft.Storage.BlobDeleted"), "is not Microsoft.Storage.BlobCreated"),
        ({**CLOUD, "type": "Microsoft.Storage.BlobTierChanged"}, "is not Microsoft.Storage.BlobCreated"),
        (_with(EVENT_GRID, subject="/blobServices/default/containers/other/blobs/config.yaml"), "not the watched container"),
        (_with(EVENT_GRID, subject="/blobServices/default/containers/litellm-config/blobs/releases/1.yaml"), "not the watched blob"),
        (_with(EVENT_GRID, subject="/blobServices/default/containers/litellm-config/blobs/status/config.yaml.json"), "not the watched blob"),
        (_with(EVENT_GRID, subject="/fileServices/default/shares/x/files/config.yaml"), "is not /blobServices"),
        (_with(EVENT_GRID, data_api="CreateFile", data_contentLength=0), "FlushWithClose"),
    ],
    ids=["other-type", "cloudevents-other-type", "other-container", "release-blob", "status-blob", "not-a-blob", "adls-createfile"],
)
def test_irrelevant_events_are_ignored_with_a_reason(event: dict, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    """Other event types, containers, blobs and Data Lake CreateFile return None and log why."""
    with caplog.at_level(logging.INFO, logger="gateway.publisher.events"):
        assert parse_event(event) is None
    assert reason in caplog.text


def test_container_and_blob_filters_are_configurable() -> None:
    """A publisher watching another container/blob name accepts exactly that blob; None accepts any."""
    event = _with(EVENT_GRID, subject="/blobServices/default/containers/cfg/blobs/team/a.yaml")
    assert parse_event(event, container="cfg", blob_name="team/a.yaml").blob_name == "team/a.yaml"
    assert parse_event(event) is None
    assert parse_event(event, container=None, blob_name=None).container == "cfg"


@pytest.mark.parametrize(
    "changes",
    [{"data_sequencer": None}, {"data_sequencer": "../../x"}, {"data_eTag": ""}, {"data": None}],
    ids=["no-sequencer", "unsafe-sequencer", "no-etag", "no-data"],
)
def test_watched_blob_event_without_etag_or_sequencer_is_invalid(changes: dict) -> None:
    """A BlobCreated event for the watched blob that lacks eTag/sequencer raises InvalidEvent (no retry helps)."""
    with pytest.raises(InvalidEvent):
        parse_event(_with(EVENT_GRID, **changes))


def test_etag_quotes_are_normalized() -> None:
    """A quoted eTag (as the Blob SDK returns it) parses to the bare form Event Grid sends."""
    assert parse_event(_with(EVENT_GRID, data_eTag='"0x8D4BCC2E4835CD0"')).etag == "0x8D4BCC2E4835CD0"
    assert normalize_etag('"0xABC"') == normalize_etag("0xABC") == "0xABC"


def test_local_deliverer_events_have_the_real_shape() -> None:
    """The devstack's event builder produces the documented Event Grid and CloudEvents shapes, which parse."""
    event = blob_created_event(
        account="devstoreaccount1",
        container="litellm-config",
        blob_name="config.yaml",
        url="http://127.0.0.1:1/devstoreaccount1/litellm-config/config.yaml",
        etag='"0x1D"',
        sequencer=SEQ,
        content_length=10,
        event_time=datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    )
    assert set(event) == set(EVENT_GRID)
    assert set(event["data"]) == set(EVENT_GRID["data"])
    assert event["eventTime"] == "2024-01-02T03:04:05.1234560Z"
    assert event["topic"].endswith("/providers/Microsoft.Storage/storageAccounts/devstoreaccount1")
    assert (event["dataVersion"], event["metadataVersion"], event["data"]["eTag"]) == ("", "1", "0x1D")
    cloud = to_cloudevent(event)
    assert parse_event(event) == parse_event(cloud)
    assert parse_event(event).sequencer == SEQ
