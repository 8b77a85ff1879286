"""Poison messages: what a broken or hostile producer might put on any topic. Each must land on
the topic's dead-letter topic with its reason, change nothing, and stop no consumer.

Each is keyed `poison-<kind>-<n>`, so the audit can tell the injected from the unexpected."""

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from unittest import mock

from aiokafka.producer import message_accumulator, producer
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

from shared.events import MAX_EVENT_BYTES, Envelope, FlightCancelled, FlightRef

KINDS = ("invalid_json", "wrong_version", "huge", "unknown_type")


def _cancellation(n: int) -> dict:
    """A well-formed envelope, as a dict to spoil: a cancellation of a flight nobody flies."""
    event = FlightCancelled(partner_event_id=f"poison-{n}", reason="technical",
                            flight=FlightRef(carrier="ZZ", number=str(9000 + n % 1000),
                                             departure_date=date(2013, 2, 8), origin="JFK"))
    return json.loads(Envelope.wrap(event, source="poison/faults", subject=event.flight.designator,
                                    id=f"poison-{n}", time=datetime(2013, 2, 8, tzinfo=UTC)).to_bytes())


def message(kind: str, n: int) -> tuple[bytes, bytes]:
    """(key, value) of poison message `n` of `kind`."""
    key = f"poison-{kind}-{n}".encode()
    envelope = _cancellation(n)
    if kind == "invalid_json":
        value = json.dumps(envelope).encode()[:57]  # cut off mid-object
    elif kind == "wrong_version":
        value = json.dumps(envelope | {"specversion": "0.3"}).encode()
    elif kind == "huge":
        # Otherwise valid: only its size is wrong (a subject has no length limit of its own).
        value = json.dumps(envelope | {"subject": "Z" * (MAX_EVENT_BYTES + 1024)}).encode()
    elif kind == "unknown_type":
        value = json.dumps(envelope | {"type": "flight.teleported",
                                       "data": envelope["data"] | {"type": "flight.teleported"}}).encode()
    else:
        raise ValueError(f"unknown poison kind {kind!r}")
    return key, value


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
