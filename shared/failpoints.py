"""Crash points for the fault harness (`faults/`), in the manner of FreeBSD's fail points.

With REBOUND_FAILPOINTS=on, real-time signal SIGRTMIN+i arms point POINTS[i]; the next time the
process passes that point it kills itself with SIGKILL: no cleanup, no flush, as a crash exactly
there. The harness uses them to crash a service at the moments a random kill rarely hits:
halfway through a consumer batch, between the database commit and the Kafka offset commit, and
between the outbox relay's publish and its delete. Off (the default), `reach` is a set lookup.
"""

import asyncio
import os
import signal

POINTS = ("mid_batch", "after_db_commit", "outbox_relay")
_armed: set[str] = set()


def signal_for(point: str) -> int:
    return signal.SIGRTMIN + POINTS.index(point)


def install(loop: asyncio.AbstractEventLoop) -> None:
    if os.environ.get("REBOUND_FAILPOINTS") != "on":
        return
    for point in POINTS:
        loop.add_signal_handler(signal_for(point), _armed.add, point)


def reach(point: str) -> None:
    if point in _armed:
        os.kill(os.getpid(), signal.SIGKILL)
