"""The benchmark's and the fault harness's "nothing left to read" on real Kafka: a partition of a
group's topic that the group has never committed on is behind by everything it holds. Counted as
nothing, the first message ever on a partition would let a run be declared settled, and audited,
before its work was done."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.measure import group_lag
from tests.conftest import Infrastructure

pytestmark = pytest.mark.integration


async def test_a_partition_never_committed_on_counts_all_it_holds(infrastructure: Infrastructure):
    topic, group = f"lag-{uuid.uuid4().hex[:8]}", f"lag-group-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infrastructure.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=infrastructure.kafka_bootstrap)
        await producer.start()
        try:
            for partition, n in ((0, 3), (1, 1), (2, 2)):
                for _ in range(n):
                    await producer.send_and_wait(topic, b"event", partition=partition)
        finally:
            await producer.stop()
        committer = AIOKafkaConsumer(bootstrap_servers=infrastructure.kafka_bootstrap, group_id=group,
                                     enable_auto_commit=False)
        await committer.start()
        try:
            committer.assign([TopicPartition(topic, 0)])
            await committer.commit({TopicPartition(topic, 0): 2})  # one of partition 0's three left
        finally:
            await committer.stop()
        reader = AIOKafkaConsumer(bootstrap_servers=infrastructure.kafka_bootstrap, group_id=None)
        await reader.start()
        try:
            state = await group_lag(admin, reader, group)
        finally:
            await reader.stop()
        assert state.lag == 1 + 1 + 2
        await admin.delete_topics([topic])
    finally:
        await admin.close()
