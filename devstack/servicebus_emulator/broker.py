"""The AMQP 1.0 broker (proton event handler) and the ``ServiceBusEmulator`` lifecycle around it.

Only what the unmodified ``azure-servicebus`` client needs is on the wire: SASL ANONYMOUS over
plain AMQP, ``$cbs`` token puts, topic/queue sender links, peek-lock and receive-and-delete
receiver links (settlement confirmed with a settled disposition echoing the outcome) and the
``$management`` node. Delivery rules live in :mod:`.entities`; this module only moves frames.
"""

from __future__ import annotations

import functools
import itertools
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from os import PathLike
from typing import Any, TypeVar

from proton import Condition, Connection, Delivery, Endpoint, Event, Handler, Link, Session, Terminus
from proton.reactor import Container

from . import wire
from .config import EmulatorConfig, EntityOptions
from .entities import Entity, Namespace, address_segments
from .management import LOCK_LOST, handle_request
from .wire import MessageSnapshot

_LOG = logging.getLogger(__name__)

TICK_S = 0.05  # lock expiry, TTL and cross-thread work are checked this often
CREDIT_WINDOW = 500  # credit granted to client senders and request links
SHUTDOWN_GRACE_S = 1.0  # time for clients to answer our connection close
LOCK_LOST_TEXT = "The lock supplied is invalid. Either the lock expired, or the message has already been removed."


def _guarded(method: Callable[[Any, Event], None]) -> Callable[[Any, Event], None]:
    """Log handler errors instead of letting one bad frame stop the reactor thread for everyone."""

    @functools.wraps(method)
    def wrapper(self: Any, event: Event) -> None:
        try:
            method(self, event)
        except Exception:  # noqa: BLE001 - a broker must outlive a misbehaving client
            _LOG.exception("servicebus emulator: error handling %s", event.type)

    return wrapper


_T = TypeVar("_T")


def _required(value: _T | None) -> _T:
    """Event accessors are Optional in proton's hints; for the events handled here they are set."""
    if value is None:
        raise RuntimeError("proton event without the expected endpoint")
    return value


def _open(endpoint: Connection | Session) -> None:
    """Answer a peer's open/begin (the broker never initiates them)."""
    if endpoint.state & Endpoint.LOCAL_UNINIT:
        endpoint.open()


def _close(endpoint: Connection | Session | Link) -> None:
    """Answer a peer's close/end/detach once."""
    if not endpoint.state & Endpoint.LOCAL_CLOSED:
        endpoint.close()


def _is_node(address: str) -> bool:
    """Request/response nodes, as opposed to entities."""
    segments = address_segments(address)
    return bool(segments) and segments[-1] in ("$cbs", "$management")


class _Broker(Handler):
    """Proton handler: runs only on the reactor thread; shares entity state under the namespace lock."""

    def __init__(self, namespace: Namespace, stop_requested: threading.Event) -> None:
        super().__init__()
        self._ns = namespace
        self._stop_requested = stop_requested
        self._ids = itertools.count(1)
        self._connections: dict[int, Connection] = {}
        self._consumers: dict[int, Link] = {}
        self.acceptor: Any = None
        self._shutdown_deadline: float | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @_guarded
    def on_reactor_init(self, event: Event) -> None:
        event.container.schedule(TICK_S, self)

    def on_timer_task(self, event: Event) -> None:
        """Periodic work; always re-armed (unless stopping) so ``stop()`` keeps working after an error."""
        try:
            if self._tick(event.container):
                return
        except Exception:  # noqa: BLE001
            _LOG.exception("servicebus emulator: periodic work failed")
        event.container.schedule(TICK_S, self)

    def _tick(self, container: Container) -> bool:
        """Expire locks and messages, deliver, and run the shutdown steps; True once stopped."""
        if not self._stop_requested.is_set():
            now = time.time()
            with self._ns.lock:
                for entity in self._ns.all_entities():
                    entity.sweep(now)
            self._pump_all()
        elif self._shutdown_deadline is None:  # 1: stop accepting, ask clients to close
            self._shutdown_deadline = time.monotonic() + SHUTDOWN_GRACE_S
            if self.acceptor is not None:
                self.acceptor.close()
            for connection in self._connections.values():
                connection.close()
        elif not self._connections:  # 3: every socket is closed
            container.stop()
            return True
        elif time.monotonic() > self._shutdown_deadline:  # 2: drop clients that did not answer
            for connection in self._connections.values():
                if connection.transport is not None:
                    connection.transport.close_tail()
                    connection.transport.close_head()
            self._connections.clear()
        return False

    # -- connections, sessions, links -----------------------------------------------------
    @_guarded
    def on_connection_bound(self, event: Event) -> None:
        # The SDK authenticates with SASL ANONYMOUS plus a $cbs token. proton's built-in SASL (no
        # Cyrus in the wheel) cannot verify PLAIN on the server side, so only ANONYMOUS is offered.
        connection, transport = _required(event.connection), _required(event.transport)
        sasl = transport.sasl()
        sasl.allow_insecure_mechs = True
        sasl.allowed_mechs("ANONYMOUS")
        connection.tracking_id = next(self._ids)
        self._connections[connection.tracking_id] = connection

    @_guarded
    def on_connection_remote_open(self, event: Event) -> None:
        _open(_required(event.connection))

    @_guarded
    def on_session_remote_open(self, event: Event) -> None:
        _open(_required(event.session))

    @_guarded
    def on_link_remote_open(self, event: Event) -> None:
        link = _required(event.link)
        if link.state & Endpoint.LOCAL_UNINIT:
            self._attach(link)

    @_guarded
    def on_link_remote_close(self, event: Event) -> None:
        link = _required(event.link)
        self._forget(link)
        _close(link)

    @_guarded
    def on_session_remote_close(self, event: Event) -> None:
        _close(_required(event.session))

    @_guarded
    def on_connection_remote_close(self, event: Event) -> None:
        _close(_required(event.connection))

    @_guarded
    def on_transport_closed(self, event: Event) -> None:
        cid = getattr(event.connection, "tracking_id", None)
        for link in [c for c in self._consumers.values() if c.conn_id == cid]:
            self._forget(link)
        if cid is not None:
            self._connections.pop(cid, None)

    def _attach(self, link: Link) -> None:
        """Accept a client's attach, echoing its terminus, and classify the link by address."""
        source, target = link.remote_source.address, link.remote_target.address
        if source is not None:
            link.source.address = source
        if target is not None:
            link.target.address = target
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        link.conn_id = getattr(link.connection, "tracking_id", None)
        address = (source if link.is_sender else target) or ""
        if _is_node(address):
            link.kind = "reply" if link.is_sender else "request"
            link.node = "/".join(address_segments(address))
        elif link.is_sender:
            with self._ns.lock:
                entity = self._ns.resolve(address)
            if entity is None:
                return self._refuse(link, address)
            link.kind, link.entity, link.tracking_id = "consumer", entity, next(self._ids)
            link.presettled = link.remote_snd_settle_mode == Link.SND_SETTLED
            self._consumers[link.tracking_id] = link
        else:
            with self._ns.lock:
                known = self._ns.can_publish(address)
            if not known:
                return self._refuse(link, address)
            link.kind, link.address = "producer", address
        link.open()
        if link.is_receiver:
            link.flow(CREDIT_WINDOW)
        _LOG.debug("attached %s link %r", link.kind, address)

    def _refuse(self, link: Link, address: str) -> None:
        """Attach with a null terminus then detach with ``amqp:not-found`` (the spec's link refusal)."""
        (link.target if link.is_receiver else link.source).type = Terminus.UNSPECIFIED
        link.condition = Condition("amqp:not-found", f"The messaging entity '{address}' could not be found.")
        link.open()
        link.close()

    def _forget(self, link: Link) -> None:
        """A consumer link went away: its unsettled messages lose their locks (idempotent)."""
        if getattr(link, "kind", None) == "consumer" and self._consumers.pop(link.tracking_id, None) is not None:
            with self._ns.lock:
                link.entity.release_owner(link.tracking_id)

    # -- message flow ----------------------------------------------------------------------
    @_guarded
    def on_link_flow(self, event: Event) -> None:
        link = _required(event.link)
        if getattr(link, "kind", None) == "consumer":
            self._pump(link)

    @_guarded
    def on_delivery(self, event: Event) -> None:
        link, delivery = _required(event.link), _required(event.delivery)
        if link.is_receiver:
            self._on_incoming(link, delivery)
        else:
            self._on_outcome(link, delivery)

    def _pump_all(self) -> None:
        for link in list(self._consumers.values()):
            self._pump(link)

    def _pump(self, link: Link) -> None:
        """Send available messages while the client has credit; a drain gets the rest back."""
        if not link.state & Endpoint.LOCAL_ACTIVE or link.state & Endpoint.REMOTE_CLOSED:
            return
        entity: Entity = link.entity
        while link.credit > 0:
            now = time.time()
            with self._ns.lock:
                stored = entity.take(now)
                if stored is None:
                    break
                held = None if link.presettled else entity.lock(stored, link.tracking_id, now)
                payload = wire.render(stored, held.locked_until if held else None)
            # The SDK reads the lock token as UUID(bytes_le=delivery_tag).
            tag = (held.token if held else uuid.uuid4()).bytes_le
            delivery = link.delivery(tag)  # type: ignore[arg-type]  # proton accepts bytes tags
            link.stream(payload)
            link.advance()
            if held is None:
                delivery.settle()
            else:
                delivery.lock_token = held.token
        if link.drain_mode and link.credit > 0:
            link.drained()

    def _on_incoming(self, link: Link, delivery: Delivery) -> None:
        """A message from a client sender (publish) or a request to ``$cbs``/``$management``."""
        if not delivery.readable or delivery.partial:
            return
        payload = link.recv(delivery.pending) or b""
        link.advance()
        kind = getattr(link, "kind", None)
        if kind == "producer":
            try:
                now = time.time()
                for message in wire.unbatch(payload):
                    info = wire.inspect_published(message)
                    with self._ns.lock:
                        self._ns.publish(link.address, message, now, info.ttl_s, max(info.scheduled_at or now, now))
                delivery.update(Delivery.ACCEPTED)
            except Exception as exc:  # noqa: BLE001 - tell the sender instead of leaving it waiting
                _LOG.exception("could not store a message sent to %s", link.address)
                delivery.local.condition = Condition("amqp:decode-error", str(exc))
                delivery.update(Delivery.REJECTED)
            delivery.settle()
        elif kind == "request":
            request = wire.decode(payload)
            response = handle_request(self._ns, link.node, request, time.time())
            delivery.update(Delivery.ACCEPTED)
            delivery.settle()
            self._reply(link, request.reply_to, response.encode())
        if link.credit < CREDIT_WINDOW // 2:
            link.flow(CREDIT_WINDOW - link.credit)
        self._pump_all()

    def _reply(self, request_link: Link, reply_to: str | None, payload: bytes) -> None:
        """Send a response on the client's reply link: same node (and ``reply_to`` if it names one)."""
        chosen = None
        link = request_link.connection.link_head(Endpoint.LOCAL_ACTIVE)
        while link is not None:
            if link.is_sender and getattr(link, "kind", None) == "reply":
                if reply_to and link.remote_target.address == reply_to:
                    chosen = link
                    break
                if chosen is None and link.node == request_link.node:
                    chosen = link
            link = link.next(Endpoint.LOCAL_ACTIVE)
        if chosen is None:
            _LOG.warning("no reply link for %s (reply_to=%r)", request_link.node, reply_to)
            return
        delivery = chosen.delivery(uuid.uuid4().bytes)  # type: ignore[arg-type]
        chosen.stream(payload)
        chosen.advance()
        if chosen.snd_settle_mode == Link.SND_SETTLED:
            delivery.settle()

    def _on_outcome(self, link: Link, delivery: Delivery) -> None:
        """Apply a client's settlement of a delivered message, then confirm it (settled, same outcome)."""
        token = getattr(delivery, "lock_token", None)
        state = delivery.remote_state
        final = state in (Delivery.ACCEPTED, Delivery.REJECTED, Delivery.RELEASED, Delivery.MODIFIED)
        if not final and not delivery.settled:  # ``Delivery.settled`` is the remote side's flag
            return
        if token is None:  # a management reply, or a pre-settled delivery
            delivery.settle()
            return
        delivery.lock_token = None
        try:
            state, ok = self._settle(link.entity, token, delivery)
            if not ok:
                delivery.local.condition = Condition(LOCK_LOST, LOCK_LOST_TEXT)
        except Exception as exc:  # noqa: BLE001 - still answer, or the client waits for its timeout
            _LOG.exception("settlement failed")
            delivery.local.condition = Condition("amqp:internal-error", str(exc))
            ok = False
        delivery.update(state if ok else Delivery.REJECTED)
        delivery.settle()
        self._pump_all()

    def _settle(self, entity: Entity, token: uuid.UUID, delivery: Delivery) -> tuple[Any, bool]:
        """Map the AMQP outcome to a Service Bus settlement; returns the outcome to echo and success."""
        state = delivery.remote_state
        remote = delivery.remote
        with self._ns.lock:
            if state == Delivery.ACCEPTED:
                return state, entity.complete(token)
            if state == Delivery.REJECTED:
                condition = remote.condition
                info: Any = (condition.info if condition else None) or {}
                reason = info.get("DeadLetterReason")
                description = info.get("DeadLetterErrorDescription") or (condition.description if condition else None)
                return state, entity.dead_letter(token, reason, description)
            if state == Delivery.MODIFIED and remote.undeliverable:
                return state, entity.defer(token)
            if state == Delivery.MODIFIED:
                return state, entity.abandon(token, failed=remote.failed)
            # released, or settled without an outcome: not a failed delivery attempt
            return Delivery.RELEASED, entity.abandon(token, failed=False)


class ServiceBusEmulator:
    """A Service Bus namespace on ``127.0.0.1`` that the unmodified ``azure-servicebus`` SDK can use.

    The reactor runs on a background thread; ``start()`` returns once the port is listening and
    ``stop()`` closes client connections and joins the thread within a few seconds.
    """

    def __init__(
        self,
        config: EmulatorConfig | Mapping[str, Any] | str | PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if isinstance(config, Mapping):
            config = EmulatorConfig.from_dict(config)
        elif not isinstance(config, EmulatorConfig):
            config = EmulatorConfig.from_file(config)
        self.config = config
        self.namespace = Namespace(config)
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ServiceBusEmulator:
        """Bind the port and start the reactor thread (one-shot: an emulator cannot be restarted)."""
        if self._thread is not None:
            raise RuntimeError("the emulator was already started")
        broker = _Broker(self.namespace, self._stop_requested)
        container = Container(broker)
        broker.acceptor = container.acceptor(self._host, str(self._requested_port))
        self._listener = broker.acceptor._selectable._delegate  # proton keeps the socket here
        self._port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(container,), name="servicebus-emulator", daemon=True)
        self._thread.start()
        _LOG.info("Service Bus emulator listening on %s:%s", self._host, self._port)
        return self

    def _run(self, container: Container) -> None:
        try:
            container.run()
        except Exception:  # noqa: BLE001 - report, the thread ends either way
            _LOG.exception("servicebus emulator reactor stopped with an error")

    def stop(self, timeout: float = 5.0) -> None:
        """Close client connections, stop the reactor and release the port (bounded by ``timeout``)."""
        if self._thread is None:
            return
        self._stop_requested.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            _LOG.warning("servicebus emulator thread did not stop within %.1fs", timeout)
        if self._listener is not None:
            self._listener.close()  # idempotent; guarantees the port is free even after a timeout

    def __enter__(self) -> ServiceBusEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (the real one when constructed with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def connection_string(self) -> str:
        """The same development connection string the official emulator documents."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0", "::") else self._host
        return (
            f"Endpoint=sb://{host}:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
        )

    # -- runtime administration and inspection (thread-safe) -------------------------------
    def add_subscription(
        self, topic: str, name: str, lock_duration_s: float = 60, max_delivery_count: int = 10
    ) -> None:
        """Create a subscription at runtime (idempotent); it receives messages published from now on."""
        options = EntityOptions(lock_duration_s=float(lock_duration_s), max_delivery_count=int(max_delivery_count))
        self.namespace.add_subscription(topic, name, options)

    def active_message_count(self, entity: str, subscription: str | None = None) -> int:
        """Messages waiting or locked in a queue or subscription (not dead-lettered)."""
        with self.namespace.lock:
            return self.namespace.entity(entity, subscription).active_count()

    def messages(self, entity: str, subscription: str | None = None) -> list[MessageSnapshot]:
        """Snapshots of the active (waiting, locked or deferred) messages of a queue or subscription."""
        with self.namespace.lock:
            stored = self.namespace.entity(entity, subscription).messages()
        return [wire.snapshot(m) for m in stored]

    def dead_letter_messages(self, entity: str, subscription: str | None = None) -> list[MessageSnapshot]:
        """Snapshots of the dead-letter queue of a queue or subscription."""
        with self.namespace.lock:
            stored = self.namespace.entity(entity, subscription, dead_letter=True).messages()
        return [wire.snapshot(m) for m in stored]
