"""W3C trace context, carried as the CloudEvents distributed-tracing extension.

A partner's event may come with a `traceparent` (its CloudEvents attribute, or the HTTP or Kafka
header of that name). Rebound carries it, unchanged, on every event it emits because of that
event, and names its trace id in its log lines: an ops engineer can follow one partner event from
the ingest to the last SMS. The extension carries the trace that started the transmission, never
a hop's own (CloudEvents, extensions/distributed-tracing.md). An event that comes without one is
given one derived from its id, so a redelivery is the same trace.
"""

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar

# version 00: trace id, parent id, flags; all-zero ids are invalid (W3C Trace Context §3.2.2).
_TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
# A later version may append fields after a dash; its first four are read as version 00's.
_FUTURE = re.compile(r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-.*)?")

# The trace of the event being handled: what the outbox stamps on the events it emits.
current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def valid(traceparent: str) -> bool:
    return bool(_TRACEPARENT.fullmatch(traceparent) or _FUTURE.fullmatch(traceparent))


def trace_id(traceparent: str | None) -> str | None:
    return traceparent[3:35] if traceparent else None


def derived(event_id: str) -> str:
    """A trace for an event that came without one: the same event, the same trace. Not sampled."""
    digest = hashlib.sha256(f"rebound-trace|{event_id}".encode()).hexdigest()
    return f"00-{digest[:32]}-{digest[32:48]}-00"


@contextlib.contextmanager
def following(traceparent: str | None) -> Iterator[None]:
    """Handle one event in its trace: what is emitted and logged meanwhile carries it."""
    token = current.set(traceparent)
    try:
        yield
    finally:
        current.reset(token)


class TraceFilter(logging.Filter):
    """Adds `trace_id` to every log line written while an event with a trace is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id") and (trace := trace_id(current.get())):
            record.trace_id = trace
        return True
