"""Poison messages: what a broken or hostile producer might put on any topic. Each must end where
its kind says (the topic's dead-letter topic with its reason, every reader's parked table, or a
refusal by the broker), change nothing else, and stop no consumer.

Each key begins `poison-<kind>-<n>` and is unique, so the audit can tell the injected from the
unexpected."""

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from unittest import mock

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.producer import message_accumulator, producer
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.structs import RecordMetadata

from shared.events import MAX_EVENT_BYTES, Envelope, FlightCancelled, FlightRef

# Where each kind ends: on the dead-letter topic of the topic it was sent to, with its reason; in
# the parked table of every service that reads the topic (the Kafka client cannot read it, so no
# copy of its bytes can be had); or refused by the broker itself, never entering at all.
DEAD_LETTERED, PARKED, REFUSED_BY_BROKER = "dead_lettered", "parked", "refused_by_broker"
# Each kind: where it must end, and what it is (the documentation's reference is made from this).
POISON: dict[str, tuple[str, str]] = {
    "invalid_json": (DEAD_LETTERED, "a value that is not JSON"),
    "wrong_version": (DEAD_LETTERED, "a CloudEvents specversion other than 1.0"),
    "unknown_type": (DEAD_LETTERED, "an event type no reader knows"),
    "wrong_attributes": (DEAD_LETTERED, "binary mode: CloudEvents attributes in headers, the id missing"),
    "nul_in_id": (DEAD_LETTERED, "an id PostgreSQL's text cannot hold"),
    "nul_in_header": (DEAD_LETTERED, "a header the dead-letter row must still hold"),
    "crlf": (DEAD_LETTERED, "CR/LF in the key and a header"),
    "invalid_utf8": (DEAD_LETTERED, "invalid UTF-8 in the key, the value and a header"),
    "many_headers": (DEAD_LETTERED, "thousands of headers"),
    "near_limit": (DEAD_LETTERED, "just under the topic's size limit: its copy must still fit"),
    "at_limit": (REFUSED_BY_BROKER, "the topic's limit itself, with the record's own bytes: too large"),
    "header_name_not_utf8": (PARKED, "a header name that is not UTF-8, which the Kafka client itself cannot read"),
}
ENDS = {kind: end for kind, (end, _) in POISON.items()}
DESCRIPTIONS = {kind: description for kind, (_, description) in POISON.items()}
KINDS = tuple(ENDS)
MANY_HEADERS = 3000


@dataclass(frozen=True)
class Poison:
    kind: str
    key: bytes  # unique to the message: the audit finds its copy by it
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def ends(self) -> str:
        return ENDS[self.kind]


def _cancellation(n: int) -> dict:
    """A well-formed envelope, as a dict to spoil: a cancellation of a flight nobody flies."""
    event = FlightCancelled(partner_event_id=f"poison-{n}", reason="technical",
                            flight=FlightRef(carrier="ZZ", number=str(9000 + n % 1000),
                                             departure_date=date(2013, 2, 8), origin="JFK"))
    return json.loads(Envelope.wrap(event, source="poison/faults", subject=event.flight.designator,
                                    id=f"poison-{n}", time=datetime(2013, 2, 8, tzinfo=UTC)).to_bytes())


def message(kind: str, n: int) -> Poison:
    """Poison message `n` of `kind`."""
    key = f"poison-{kind}-{n}".encode()
    envelope = _cancellation(n)
    wrong_version = json.dumps(envelope | {"specversion": "0.3"}).encode()
    headers: list[tuple[str, bytes]] = []
    if kind == "invalid_json":
        value = json.dumps(envelope).encode()[:57]  # cut off mid-object
    elif kind == "wrong_version":
        value = wrong_version
    elif kind == "unknown_type":
        value = json.dumps(envelope | {"type": "flight.teleported",
                                       "data": envelope["data"] | {"type": "flight.teleported"}}).encode()
    elif kind == "wrong_attributes":
        value = json.dumps(envelope["data"]).encode()
        headers = [("ce_specversion", b"1.0"), ("ce_type", b"flight.cancelled"), ("ce_source", b"/poison"),
                   ("content-type", b"application/json")]
    elif kind == "nul_in_id":
        value = json.dumps(envelope | {"id": f"poison-{n}\x00"}).encode()
    elif kind == "nul_in_header":
        value, headers = wrong_version, [("ce_id", f"poison-{n}\x00".encode()), ("x-feed", b"\x00")]
    elif kind == "crlf":
        key += b"\r\nX-Injected: 1"
        value, headers = wrong_version, [("x-feed", b"line one\r\nX-Injected: 1")]
    elif kind == "invalid_utf8":
        key += b"\xff\xfe"
        value, headers = b"\xff\xfe" + wrong_version, [("x-feed", b"\xc3\x28\xa0\xa1")]
    elif kind == "many_headers":
        value, headers = wrong_version, [(f"x-{i}", b"v") for i in range(MANY_HEADERS)]
    elif kind in ("near_limit", "at_limit"):
        # Otherwise valid: only its size is wrong (a subject has no length limit of its own).
        size = MAX_EVENT_BYTES - 2048 if kind == "near_limit" else MAX_EVENT_BYTES
        value = json.dumps(envelope | {"specversion": "0.3" if kind == "near_limit" else "1.0",
                                       "subject": ""}).encode()
        value = value.replace(b'"subject": ""', b'"subject": "' + b"Z" * (size - len(value)) + b'"')
    elif kind == "header_name_not_utf8":
        value, headers = wrong_version, [(UndecodableName(b"\xff\xfe-feed"), b"1")]
    else:
        raise ValueError(f"unknown poison kind {kind!r}")
    return Poison(kind, key, value, headers)


class UndecodableName(str):
    """A header name that goes on the wire as bytes that are not UTF-8. Kafka's protocol says a
    header key is a UTF-8 string, and Java's producer cannot write another; a producer that writes
    the protocol itself can, and every consumer must survive it."""

    def __new__(cls, wire: bytes) -> "UndecodableName":
        name = super().__new__(cls, wire.decode("latin-1"))
        name.wire = wire
        return name

    wire: bytes

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.wire


@contextlib.contextmanager
def raw_headers() -> Iterator[None]:
    """While open, aiokafka's producers in this process write header names as given (its pure-
    Python record builder asks the name for its bytes; the compiled one encodes them itself), so
    an `UndecodableName` reaches the broker as its bytes."""
    with (mock.patch.object(message_accumulator, "DefaultRecordBatchBuilder", _DefaultRecordBatchBuilderPy),
          mock.patch.object(producer, "DefaultRecordBatchBuilder", _DefaultRecordBatchBuilderPy)):
        yield


async def send(producer: AIOKafkaProducer, topic: str, poison: Poison) -> RecordMetadata | None:
    """Put the message on `topic`: where it landed, or None where the broker refused it as its
    kind expects."""
    raw = poison.ends == PARKED
    if raw:
        await producer.flush()  # a batch the compiled builder opened would not take the raw name
    try:
        # Built and sent under the patch: the batch is checked against the builder when it leaves.
        with raw_headers() if raw else contextlib.nullcontext():
            metadata: RecordMetadata = await (await producer.send(topic, poison.value, key=poison.key,
                                                                  headers=poison.headers))
    except MessageSizeTooLargeError:
        if poison.ends == REFUSED_BY_BROKER:
            return None
        raise
    if poison.ends == REFUSED_BY_BROKER:
        raise AssertionError(f"the broker took {poison.kind} poison of {len(poison.value):,} bytes on {topic}")
    return metadata
