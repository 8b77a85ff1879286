"""The system as declared once (`shared/system.py`) is what the code does: each service's consumer
groups are its bootstrap's routes, topic for topic; it publishes only the topics it is declared
to write (read from its source: every `publish(topics.X` and producer send to `topics.X`); each
queue's worker is woken on the declared channel, by a trigger of the service's migrations or by
the code that fills it; and the Kafka ACLs and the AsyncAPI operations are made from it."""

import inspect
import re
from pathlib import Path

import pytest

from deploy import kafka_access
from shared import contract, system, topics
from shared.system import BY_NAME, READS, SERVICES, WRITES
from tests.topology import routes_by_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", SERVICES)
def test_each_consumer_group_routes_exactly_the_topics_it_is_declared_to_read(service):
    routed = routes_by_service()[service]  # as the service's consumers run them, group by group
    assert [set(r.topics) for r in routed] == [set(group.topics) for group in BY_NAME[service].groups]
    assert len({g.purpose for g in BY_NAME[service].groups}) == len(BY_NAME[service].groups)
    assert len({g.suffix for g in BY_NAME[service].groups}) == len(BY_NAME[service].groups)  # one group id each


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_publishes_only_what_it_is_declared_to_write(service):
    source = " ".join(p.read_text() for p in (ROOT / "services" / service).glob("*.py"))
    written = set(re.findall(r"publish\(\s*topics\.([A-Z_]+)", source))
    written |= set(re.findall(r"topics\.name\([^()]*topics\.([A-Z_]+)\)", source))
    assert written and {getattr(topics, n) for n in written} <= set(WRITES[service])


def _wakes(service: str, table: str, channel: str) -> bool:
    """A trigger of the service's schema (or of every schema) notifies the channel for the table."""
    sql = " ".join(p.read_text() for p in [*(ROOT / "services" / service / "migrations").rglob("*.sql"),
                                            *(ROOT / "shared" / "sql").glob("*.sql")])
    return f"pg_notify('{channel}'" in sql or (channel == f"{service}_{table}"
                                                and f"pg_notify(TG_TABLE_SCHEMA || '_{table}'" in sql)


@pytest.mark.parametrize("service", SERVICES)
def test_every_queue_is_woken_on_its_declared_channel_and_its_worker_listens_there(service):
    for queue in BY_NAME[service].queues:
        if queue.step:
            assert list(inspect.signature(system.resolve(queue.step)).parameters)[:2] == ["conn", "config"], queue
        if queue.channel is None:  # swept on a timer
            assert "asyncio.sleep(" in inspect.getsource(system.resolve(queue.worker)), queue
            continue
        assert list(inspect.signature(system.resolve(queue.worker)).parameters) == (
            ["self"] if queue.table == "outbox" else ["service"]), queue
        # The worker, or what it runs, listens on the declared channel.
        source = " ".join(p.read_text() for p in [*(ROOT / "services" / service).glob("*.py"),
                                                   ROOT / "shared" / "outbox.py"])
        assert f'system.channel("{service}", "{queue.table}")' in source or (
            queue.table == "outbox" and "system.outbox_channel(" in source), queue
        filled_here = f'system.channel("{service}", "{queue.table}")' in " ".join(
            p.read_text() for p in (ROOT / "services" / service).glob("handlers.py"))
        assert _wakes(service, queue.table, queue.channel) or filled_here, queue
    assert BY_NAME[service].migrations == f"services/{service}/migrations"
    assert (ROOT / BY_NAME[service].migrations).is_dir()


def test_the_kafka_acls_and_the_asyncapi_operations_are_made_from_the_declaration():
    grants = kafka_access.access("")
    for part in system.SYSTEM:
        for topic in part.reads:
            assert (part.name, topic, "READ") in {(p, n, o.name) for p, _, n, _, o in grants}
        for topic in part.writes:
            assert (part.name, topic, "WRITE") in {(p, n, o.name) for p, _, n, _, o in grants}
    # Every service reads the first-notice path's lag (shared/backlog.py): DESCRIBE on its groups
    # and topics, and no more than that where it does not consume them.
    granted = {(p, kind.name, n, o.name) for p, kind, n, _, o in grants}
    for service in READS:
        assert (service, "GROUP", "notify-priority", "DESCRIBE") in granted
        assert (service, "TOPIC", "flight-notices", "DESCRIBE") in granted
    assert ("rebooking", "TOPIC", "flight-notices", "READ") not in granted
    operations = contract.asyncapi()["operations"]
    for topic in topics.ALL:
        readers = sorted(s for s, read in READS.items() if topic in read)
        if readers:
            assert operations[f"receive_{topic.replace('-', '_')}"]["summary"] == f"Read by {', '.join(readers)}"
