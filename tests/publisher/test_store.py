"""ReleaseStore against real Azurite: exact-version reads, create-once releases, compare-and-swap pointers."""

from __future__ import annotations

import pytest

from gateway import protocol
from gateway.errors import ConfigIssue
from gateway.protocol import CurrentPointer, PublishStatus
from gateway.publisher import ConcurrentUpdate, ReleaseConflict, ReleaseStore, Superseded
from tests.publisher.stack import Harness

V1, V2, V3 = (f"{n:032x}" for n in (1, 2, 3))


def _pointer(version: str, sha: str = "ab" * 32) -> CurrentPointer:
    return CurrentPointer(version, sha, protocol.release_blob_name(version), "0x1", "2024-01-01T00:00:00+00:00")


def test_download_is_pinned_to_the_etag(harness: Harness) -> None:
    """download() returns the named upload, and raises Superseded once it was replaced or deleted."""
    first = harness.container.upload_blob("config.yaml", b"one", overwrite=True).get_blob_properties().etag
    assert harness.store.download("config.yaml", first) == b"one"
    assert harness.store.download("config.yaml", first.strip('"')) == b"one"  # Event Grid's bare form
    harness.container.upload_blob("config.yaml", b"two", overwrite=True)
    with pytest.raises(Superseded, match="newer upload"):
        harness.store.download("config.yaml", first)
    harness.container.delete_blob("config.yaml")
    with pytest.raises(Superseded, match="deleted"):  # Azurite answers 412, Azure may answer 404: both mean gone
        harness.store.download("config.yaml", first)


def test_release_blob_is_created_once(harness: Harness) -> None:
    """write_release is idempotent for the same bytes and refuses to replace different bytes."""
    name = harness.store.write_release(V1, b"model_list: []\n", source_etag='"0x1"')
    assert name == protocol.release_blob_name(V1)
    assert harness.store.write_release(V1, b"model_list: []\n") == name
    props = harness.container.get_blob_client(name).get_blob_properties()
    assert props.metadata["source_etag"] == "0x1" and len(props.metadata["sha256"]) == 64
    assert props.content_settings.content_type == protocol.CONTENT_TYPE_YAML
    with pytest.raises(ReleaseConflict):
        harness.store.write_release(V1, b"something else\n")
    assert harness.store.read_release(name) == b"model_list: []\n"


def test_current_pointer_only_moves_forward(harness: Harness) -> None:
    """advance_current creates, advances, and refuses equal or older versions."""
    assert harness.store.read_current() == (None, None)
    assert harness.store.advance_current(_pointer(V2)) is True
    assert harness.store.advance_current(_pointer(V1)) is False
    assert harness.store.advance_current(_pointer(V2)) is False
    assert harness.current().version == V2
    assert harness.store.advance_current(_pointer(V3)) is True
    assert harness.current() == _pointer(V3)


class InterleavingStore(ReleaseStore):
    """Another writer updates the blob right after each of our first ``races`` reads."""

    def __init__(self, container, blob: str, writes: list[bytes]) -> None:
        super().__init__(container, cas_attempts=3)
        self.blob, self.writes = blob, list(writes)

    def _read_json(self, name, parse):  # type: ignore[override]
        result = super()._read_json(name, parse)
        if name == self.blob and self.writes:
            self.container.upload_blob(name, self.writes.pop(0), overwrite=True)
        return result


def test_lost_cas_race_is_rereaded_and_decided_again(harness: Harness) -> None:
    """If current.json changes between read and write, the store re-reads and honours the newer value."""
    racing = InterleavingStore(harness.container, protocol.CURRENT_BLOB, [_pointer(V1).to_json(), _pointer(V3).to_json()])
    # read (absent) -> someone writes V1 -> create fails; re-read V1 -> someone writes V3 -> If-Match fails;
    # re-read V3 -> V2 is older: nothing to do.
    assert racing.advance_current(_pointer(V2)) is False
    assert harness.current().version == V3


def test_cas_gives_up_after_bounded_attempts(harness: Harness) -> None:
    """A pointer that changes under every attempt raises ConcurrentUpdate (transient: the event is retried)."""
    writes = [_pointer(f"{n:032x}").to_json() for n in range(1, 4)]
    racing = InterleavingStore(harness.container, protocol.CURRENT_BLOB, writes)
    with pytest.raises(ConcurrentUpdate, match="3 compare-and-swap"):
        racing.advance_current(_pointer(f"{99:032x}"))


def test_unreadable_pointer_is_replaced(harness: Harness) -> None:
    """A corrupt current.json does not block publishing: it is overwritten under its ETag."""
    harness.container.upload_blob(protocol.CURRENT_BLOB, b"{not json", overwrite=True)
    pointer, etag = harness.store.read_current()
    assert pointer is None and etag
    assert harness.store.advance_current(_pointer(V1)) is True
    assert harness.current().version == V1


def test_status_never_regresses_to_an_older_upload(harness: Harness) -> None:
    """write_status keeps the newest upload's verdict; the same version may be rewritten."""
    rejected = PublishStatus("rejected", V2, "cd" * 32, "0x2", errors=(ConfigIssue("model_list", "missing"),))
    assert harness.store.write_status(rejected) is True
    assert harness.store.write_status(PublishStatus("accepted", V1, "ab" * 32, "0x1")) is False
    assert harness.status().result == "rejected" and harness.status().errors == rejected.errors
    assert harness.store.write_status(PublishStatus("accepted", V2, "cd" * 32, "0x2")) is True
    assert harness.store.write_status(PublishStatus("accepted", V3, "ef" * 32, "0x3")) is True
    assert harness.status().version == V3
