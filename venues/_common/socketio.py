"""Engine.IO 3 / Socket.IO 2 framing, sans-I/O: text in, packets out, and back.

What a socket.io 2.x peer (``socket.io-client@2``, python-socketio 4.x) speaks, in two layers:

* **Engine.IO 3** packets: one digit type then the data — ``0`` open (the handshake JSON:
  ``sid``, ``upgrades``, ``pingInterval``, ``pingTimeout``), ``1`` close, ``2`` ping (the client
  pings), ``3`` pong, ``4`` message, ``5`` upgrade, ``6`` noop; ``2probe``/``3probe`` on a
  websocket that upgrades a polling session. Over a websocket one frame is one packet; over
  HTTP long-polling a body is a *payload*: ``<length>:<packet>`` repeated (the length in
  UTF-16 code units, as JS counts a string), or the XHR2 binary framing
  ``\\x00<length digits as bytes>\\xff<packet>`` that python-engineio 3 posts.
* **Socket.IO 2** packets inside a message: one digit type (``0`` connect, ``1`` disconnect,
  ``2`` event, ``3`` ack, ``4`` error; ``5``/``6`` binary, refused here), then ``/nsp,`` unless
  the namespace is ``/``, then the ack id digits, then the JSON data (an event's data is
  ``[name, *args]``).

Nothing here reads a socket or a clock: :class:`ClientProtocol` is the client's state (the
handshake, ack ids) a stream drives, and the testnet's :mod:`venues._testnet.socketio` is the
server counterpart. Nothing venue-specific lives here.
"""

from __future__ import annotations

import enum
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

__all__ = [
    "ProtocolError",
    "EioType",
    "EioPacket",
    "Handshake",
    "SioType",
    "SioPacket",
    "encode_packet",
    "decode_packet",
    "encode_payload",
    "decode_payload",
    "encode_sio",
    "decode_sio",
    "message_of",
    "engineio_query",
    "ClientProtocol",
    "Received",
]

EIO_VERSION = 3
MAX_PACKETS_PER_PAYLOAD = 1000
"A payload holding more packets than this is refused (a peer cannot make us loop on one body)."

Loads = Callable[[str], Any]
Dumps = Callable[[Any], str]


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ProtocolError(ValueError):
    """A packet or payload that is not Engine.IO 3 / Socket.IO 2."""


class EioType(enum.IntEnum):
    """Engine.IO 3 packet types."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@attrs.frozen(slots=True)
class EioPacket:
    """One Engine.IO packet: its type and text data."""

    type: EioType
    data: str = ""


def encode_packet(packet: EioPacket) -> str:
    """``<type digit><data>``."""
    return f"{int(packet.type)}{packet.data}"


def decode_packet(text: str | bytes) -> EioPacket:
    """One packet as a websocket frame (or a payload element) carries it."""
    if isinstance(text, bytes):
        if text[:1] == b"\x04":
            raise ProtocolError("binary engine.io messages are not supported")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("packet is not UTF-8") from None
    if not text or text[0] not in "0123456":
        raise ProtocolError(f"unknown engine.io packet type {text[:1]!r}")
    return EioPacket(EioType(int(text[0])), text[1:])


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _utf16_take(text: str, start: int, units: int) -> int:
    """The index in ``text`` where ``units`` UTF-16 code units from ``start`` end."""
    i = start
    while units > 0 and i < len(text):
        units -= 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    if units != 0:
        raise ProtocolError("payload shorter than its packet length")
    return i


def encode_payload(packets: Iterable[EioPacket]) -> str:
    """A long-polling body: ``<length>:<packet>`` for each packet (``0:`` for none)."""
    parts = [encode_packet(p) for p in packets]
    if not parts:
        return "0:"
    return "".join(f"{_utf16_len(part)}:{part}" for part in parts)


def decode_payload(body: bytes | str) -> list[EioPacket]:
    """The packets of a long-polling body, in the text framing or the XHR2 binary framing."""
    if isinstance(body, bytes) and body[:1] in (b"\x00", b"\x01"):
        return _decode_binary_payload(body)
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("payload is not UTF-8") from None
    else:
        text = body
    packets: list[EioPacket] = []
    i = 0
    while i < len(text):
        colon = text.find(":", i, i + 12)
        digits = text[i:colon] if colon > i else ""
        if not digits.isascii() or not digits.isdigit():
            raise ProtocolError("payload without a packet length")
        end = _utf16_take(text, colon + 1, int(digits))
        if end == colon + 1:
            if text == "0:":
                return []
            raise ProtocolError("empty packet in a payload")
        packets.append(decode_packet(text[colon + 1:end]))
        if len(packets) > MAX_PACKETS_PER_PAYLOAD:
            raise ProtocolError("too many packets in one payload")
        i = end
    if not packets:
        raise ProtocolError("empty payload")
    return packets


def _decode_binary_payload(body: bytes) -> list[EioPacket]:
    packets: list[EioPacket] = []
    i = 0
    while i < len(body):
        kind = body[i]
        if kind not in (0, 1):
            raise ProtocolError("bad binary payload framing")
        if kind == 1:
            raise ProtocolError("binary engine.io messages are not supported")
        i += 1
        length = 0
        digits = 0
        while i < len(body) and body[i] != 0xFF:
            if body[i] > 9 or digits >= 10:
                raise ProtocolError("bad binary payload length")
            length = length * 10 + body[i]
            digits += 1
            i += 1
        if i >= len(body) or digits == 0 or i + 1 + length > len(body):
            raise ProtocolError("binary payload shorter than its packet length")
        packets.append(decode_packet(body[i + 1:i + 1 + length]))
        if len(packets) > MAX_PACKETS_PER_PAYLOAD:
            raise ProtocolError("too many packets in one payload")
        i += 1 + length
    return packets


@attrs.frozen(slots=True)
class Handshake:
    """The data of the ``open`` packet."""

    sid: str
    upgrades: tuple[str, ...] = ("websocket",)
    ping_interval_ms: int = 25_000
    ping_timeout_ms: int = 20_000

    def packet(self) -> EioPacket:
        """The ``open`` packet that carries this handshake."""
        return EioPacket(EioType.OPEN, _compact({"sid": self.sid, "upgrades": list(self.upgrades),
                                                  "pingInterval": self.ping_interval_ms,
                                                  "pingTimeout": self.ping_timeout_ms}))

    @classmethod
    def of(cls, packet: EioPacket) -> Handshake:
        """Read an ``open`` packet."""
        if packet.type is not EioType.OPEN:
            raise ProtocolError(f"expected an open packet, got {packet.type.name}")
        try:
            data = json.loads(packet.data)
        except ValueError:
            raise ProtocolError("open packet is not JSON") from None
        if not isinstance(data, dict):
            raise ProtocolError("open packet is not an object")
        sid, upgrades = data.get("sid"), data.get("upgrades", [])
        interval, timeout = data.get("pingInterval"), data.get("pingTimeout")
        if (not isinstance(sid, str) or not isinstance(upgrades, list)
                or not all(isinstance(u, str) for u in upgrades)
                or not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2**31 for n in (interval, timeout))):
            raise ProtocolError("open packet without sid, upgrades, pingInterval and pingTimeout")
        assert isinstance(interval, int) and isinstance(timeout, int)
        return cls(sid, tuple(upgrades), interval, timeout)


class SioType(enum.IntEnum):
    """Socket.IO 2 packet types."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@attrs.frozen(slots=True)
class SioPacket:
    """One Socket.IO packet (an event's ``data`` is ``[name, *args]``)."""

    type: SioType
    namespace: str = "/"
    data: Any = None
    id: int | None = None

    @classmethod
    def event(cls, name: str, *args: Any, namespace: str = "/", id: int | None = None) -> SioPacket:
        """An ``EVENT`` packet."""
        return cls(SioType.EVENT, namespace, [name, *args], id)

    @property
    def event_name(self) -> str | None:
        """The name of an ``EVENT`` (None for other packets or a nameless one)."""
        if self.type is SioType.EVENT and isinstance(self.data, list) and self.data and isinstance(self.data[0], str):
            return self.data[0]
        return None

    @property
    def args(self) -> list[Any]:
        """An event's arguments, or an ack's values."""
        if self.type is SioType.EVENT and isinstance(self.data, list):
            return list(self.data[1:])
        if self.type is SioType.ACK and isinstance(self.data, list):
            return list(self.data)
        return []


def encode_sio(packet: SioPacket, dumps: Dumps = _compact) -> str:
    """``<type>[/nsp,][id][json]``."""
    if packet.type in (SioType.BINARY_EVENT, SioType.BINARY_ACK):
        raise ProtocolError("binary socket.io packets are not supported")
    out = str(int(packet.type))
    if packet.namespace != "/":
        out += packet.namespace + ","
    if packet.id is not None:
        out += str(packet.id)
    if packet.data is not None:
        out += dumps(packet.data)
    return out


def decode_sio(text: str, loads: Loads = json.loads) -> SioPacket:
    """Parse one Socket.IO packet (binary ones are refused)."""
    if not text or text[0] not in "0123456":
        raise ProtocolError(f"unknown socket.io packet type {text[:1]!r}")
    kind = SioType(int(text[0]))
    if kind in (SioType.BINARY_EVENT, SioType.BINARY_ACK):
        raise ProtocolError("binary socket.io packets are not supported")
    i = 1
    namespace = "/"
    if i < len(text) and text[i] == "/":
        comma = text.find(",", i)
        end = len(text) if comma < 0 else comma
        namespace = text[i:end]
        i = end + 1
    start = i
    while i < len(text) and text[i].isdigit() and i - start < 16:
        i += 1
    ack_id = int(text[start:i]) if i > start else None
    data: Any = None
    if i < len(text):
        try:
            data = loads(text[i:])
        except (ValueError, RecursionError):
            raise ProtocolError("socket.io packet data is not JSON") from None
    packet = SioPacket(kind, namespace, data, ack_id)
    if kind is SioType.EVENT and packet.event_name is None:
        raise ProtocolError("socket.io event without a name")
    if kind is SioType.ACK and (ack_id is None or not isinstance(data, list)):
        raise ProtocolError("socket.io ack without an id or a list of values")
    return packet


def message_of(packet: SioPacket, dumps: Dumps = _compact) -> EioPacket:
    """The Engine.IO ``message`` packet carrying a Socket.IO packet."""
    return EioPacket(EioType.MESSAGE, encode_sio(packet, dumps))


def engineio_query(transport: str = "websocket", sid: str | None = None, extra: Sequence[tuple[str, str]] = ()) -> str:
    """The query string of an Engine.IO 3 request: ``EIO=3&transport=...[&sid=...]``."""
    parts = [("EIO", str(EIO_VERSION)), ("transport", transport), *((("sid", sid),) if sid else ()), *extra]
    return "&".join(f"{k}={v}" for k, v in parts)


@attrs.frozen(slots=True)
class Received:
    """What one incoming frame meant to the client."""

    kind: str
    "``open``, ``connect``, ``event``, ``ack``, ``error``, ``disconnect``, ``pong``, ``close`` or ``noop``."
    packet: SioPacket | None = None
    handshake: Handshake | None = None


class ClientProtocol:
    """The client side of one Socket.IO connection over a websocket, sans-I/O.

    :meth:`receive` turns a frame into what it means (answering nothing by itself: the caller
    sends what :meth:`ping` and :meth:`emit` return); ack ids are this object's. ``dumps`` and
    ``loads`` are the JSON of the event data (a venue's exact-decimal JSON, say).
    """

    def __init__(self, *, namespace: str = "/", dumps: Dumps = _compact, loads: Loads = json.loads) -> None:
        self.namespace = namespace
        self.handshake: Handshake | None = None
        self.connected = False
        self._dumps = dumps
        self._loads = loads
        self._ids = itertools.count(0)

    def receive(self, frame: str | bytes) -> Received:
        """Interpret one websocket frame; raises :class:`ProtocolError` for a malformed one."""
        packet = decode_packet(frame)
        if packet.type is EioType.OPEN:
            self.handshake = Handshake.of(packet)
            return Received("open", handshake=self.handshake)
        if packet.type is EioType.PONG:
            return Received("pong")
        if packet.type is EioType.CLOSE:
            self.connected = False
            return Received("close")
        if packet.type is not EioType.MESSAGE:
            return Received("noop")
        sio = decode_sio(packet.data, self._loads)
        if sio.type is SioType.CONNECT:
            self.connected = sio.namespace == self.namespace or self.connected
            return Received("connect", sio)
        if sio.type is SioType.DISCONNECT:
            self.connected = False
            return Received("disconnect", sio)
        kind = {SioType.EVENT: "event", SioType.ACK: "ack", SioType.ERROR: "error"}[sio.type]
        return Received(kind, sio)

    def connect_frame(self) -> str | None:
        """The frame that joins a non-default namespace (None for ``/``: the server joins it itself)."""
        if self.namespace == "/":
            return None
        return encode_packet(message_of(SioPacket(SioType.CONNECT, self.namespace), self._dumps))

    def ping(self) -> str:
        """The ping frame (Engine.IO 3: the client pings, the server answers ``3``)."""
        return encode_packet(EioPacket(EioType.PING))

    def emit(self, event: str, *args: Any, ack: bool = False) -> tuple[str, int | None]:
        """The frame of one event and its ack id (None unless ``ack``)."""
        ack_id = next(self._ids) if ack else None
        frame = encode_packet(message_of(SioPacket.event(event, *args, namespace=self.namespace, id=ack_id),
                                         self._dumps))
        return frame, ack_id
