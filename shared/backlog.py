"""First things first: whether passengers are waiting for a first notice, so that the work no first
notice needs (rebooking's rounds, compensation, later notices and their reports, the relays of
topics no first notice travels on) stands back meanwhile.

The signal is what Kafka already knows: the messages the first-notice path's consumer groups
(`Group.urgent` in shared/system.py: disruption's flight events, notify's first notices) have not
committed yet. Every replica of every service reads the same number from the brokers, so it holds
with any number of replicas and brokers, and needs no table, topic or call of its own. Each
process asks a few times a second; a service stands back for at most `yield_to_first_notices_s`
at a time, so that a first-notice path that is stuck (notify down) delays the rest, never stops it."""

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from shared import kafka, system, topics
from shared.settings import Settings

log = logging.getLogger(__name__)

WAITING = Gauge("rebound_first_notice_backlog",
                "Messages on the first-notice path not yet handled (its consumer groups' lag), as this process "
                "last read it: while above zero, work no first notice needs stands back.")
STOOD_BACK = Counter("rebound_stood_back_seconds_total",
                     "Seconds this process's work stood back for first notices, by what stood back.", ["work"])


async def behind(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group_id: str,
                 partitions: list[TopicPartition]) -> int:
    """Messages on these partitions the consumer group has not committed yet. A partition it never
    committed on is behind by everything it holds."""
    committed = {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group_id)).items()
                 if meta.offset >= 0}
    never = [tp for tp in partitions if tp not in committed]
    starts = await consumer.beginning_offsets(never) if never else {}
    ends = await consumer.end_offsets(partitions)
    return sum(max(ends[tp] - committed.get(tp, starts.get(tp, 0)), 0) for tp in partitions)


class FirstNoticeBacklog:
    """One per process: reads the first-notice path's lag every `every_s` seconds (`run`), and lets
    work wait until it is clear (`stand_back`)."""

    def __init__(self, settings: Settings, every_s: float = 0.25) -> None:
        self._settings = settings
        self._every_s = every_s
        self._hold_s = settings.yield_to_first_notices_s
        self._clear = asyncio.Event()
        self._clear.set()  # until read: nothing is known to wait
        self.waiting = 0
        # (group id, its topics' full names), from the declaration.
        self._groups = [(settings.topic_prefix + part.name + group.suffix,
                         [topics.name(settings, t) for t in group.topics])
                        for part in system.SYSTEM for group in part.groups if group.urgent]

    @property
    def clear(self) -> bool:
        return self._clear.is_set()

    async def stand_back(self, work: str) -> None:
        """Wait while passengers wait for a first notice, at most `yield_to_first_notices_s`."""
        if self._clear.is_set() or self._hold_s <= 0:
            return
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._hold_s):  # not wait_for: see shared/db.notifications
                await self._clear.wait()
        STOOD_BACK.labels(work).inc(time.monotonic() - started)

    async def run(self) -> None:
        """Read the lag until cancelled; while Kafka cannot say, nothing stands back."""
        if self._hold_s <= 0:
            return
        admin = AIOKafkaAdminClient(**kafka.client_options(self._settings), request_timeout_ms=5000)
        consumer = AIOKafkaConsumer(**kafka.client_options(self._settings), group_id=None, request_timeout_ms=5000)
        await admin.start()
        try:
            await consumer.start()
            try:
                partitions: dict[str, list[TopicPartition]] = {}
                while True:
                    try:
                        if not all(partitions.get(t) for _, names in self._groups for t in names):
                            partitions = await self._partitions(admin)  # a topic not (yet) there: again
                        self._set(sum([await behind(admin, consumer, group, [tp for t in names for tp in
                                                                             partitions.get(t, [])])
                                       for group, names in self._groups]))
                    except (KafkaError, OSError, KeyError) as exc:
                        partitions = {}
                        self._set(0)
                        log.warning("first-notice backlog unknown; nothing stands back", extra={"error": repr(exc)})
                        await asyncio.sleep(1.0)
                    await asyncio.sleep(self._every_s)
            finally:
                await consumer.stop()
        finally:
            self._set(0)
            await admin.close()

    async def _partitions(self, admin: AIOKafkaAdminClient) -> dict[str, list[TopicPartition]]:
        names = sorted({t for _, group_topics in self._groups for t in group_topics})
        return {t["topic"]: [TopicPartition(t["topic"], p["partition"]) for p in t["partitions"]]
                for t in await admin.describe_topics(names)}

    def _set(self, waiting: int) -> None:
        self.waiting = waiting
        WAITING.set(waiting)
        (self._clear.clear if waiting else self._clear.set)()
