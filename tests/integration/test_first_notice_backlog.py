"""First things first, on real Kafka: while the first-notice path's consumer groups have messages
unread (shared/backlog.py reads their lag from the brokers), work that stands back waits; once
they are committed, it goes on."""

import asyncio
import contextlib
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared import topics
from shared.backlog import FirstNoticeBacklog
from shared.settings import Settings
from tests.conftest import Infrastructure

pytestmark = pytest.mark.integration


async def test_work_stands_back_while_first_notices_wait_and_goes_on_once_they_are_handled(
        infrastructure: Infrastructure):
    prefix = f"backlog{uuid.uuid4().hex[:8]}."
    settings = Settings(environment="test", kafka_bootstrap=infrastructure.kafka_bootstrap, topic_prefix=prefix,
                        topic_partitions=2, yield_to_first_notices_s=60)
    names = [topics.name(settings, t) for t in (topics.FLIGHT_EVENTS, topics.FLIGHT_NOTICES, topics.FIRST_NOTICES)]
    admin = AIOKafkaAdminClient(bootstrap_servers=infrastructure.kafka_bootstrap)
    await admin.start()
    backlog = FirstNoticeBacklog(settings, every_s=0.05)
    watching = asyncio.create_task(backlog.run())
    try:
        await admin.create_topics([NewTopic(name, 2, 1) for name in names])
        producer = AIOKafkaProducer(bootstrap_servers=infrastructure.kafka_bootstrap)
        await producer.start()
        try:
            for partition in (0, 0, 1):
                await producer.send_and_wait(topics.name(settings, topics.FLIGHT_NOTICES), b"notice",
                                             partition=partition)
        finally:
            await producer.stop()
        async with asyncio.timeout(30):  # read from the brokers a few times a second
            while backlog.waiting != 3:  # noqa: ASYNC110 (read from the brokers on a timer, not an event)
                await asyncio.sleep(0.05)
        standing_back = asyncio.create_task(backlog.stand_back("test"))
        await asyncio.sleep(0)
        assert not standing_back.done()  # and cannot be, until the notices are committed
        # notify's first-notice group commits them, once handed on.
        notify = AIOKafkaConsumer(bootstrap_servers=infrastructure.kafka_bootstrap, enable_auto_commit=False,
                                  group_id=f"{prefix}notify-priority")
        await notify.start()
        try:
            flight_notices = topics.name(settings, topics.FLIGHT_NOTICES)
            notify.assign([TopicPartition(flight_notices, 0), TopicPartition(flight_notices, 1)])
            await notify.commit({TopicPartition(flight_notices, 0): 2, TopicPartition(flight_notices, 1): 1})
        finally:
            await notify.stop()
        await asyncio.wait_for(standing_back, 30)
        assert backlog.waiting == 0 and backlog.clear
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await admin.delete_topics(names)
        await admin.close()


async def test_nothing_stands_back_when_told_never_to():
    backlog = FirstNoticeBacklog(Settings(environment="test", yield_to_first_notices_s=0))
    await backlog.run()  # returns at once: nothing to read
    backlog._set(5)
    await asyncio.wait_for(backlog.stand_back("test"), 1)
