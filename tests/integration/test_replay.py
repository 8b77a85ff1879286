"""The real-data replay end to end, small: a sample of a real day's disrupted flights, played
through a stack of the benchmark's own on real Kafka and PostgreSQL, then audited from the
providers' records and the services' tables. What `make bench` and `make demo` do, on a scale
that fits in the test run."""

import argparse
import json
from datetime import date

import pytest

from bench import measure, run, scenario
from shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("day", "speed", "via", "replicas"), [
    (date(2013, 2, 8), "3600", "api", 1),  # the blizzard: weather cancellations, an hour a second, signed API
    # An ordinary day's crew and technical causes, onto the topic, two processes of each service
    # sharing every consumer group's partitions.
    (date(2013, 12, 31), "burst", "topic", 2),
])
async def test_a_sampled_day_replays_clean(infrastructure, day, speed, via, replicas):
    # Paced replays as the demo paces them: a quiet stretch passes in at most two seconds.
    args = argparse.Namespace(date=day, days=1, speed=speed, seed=scenario.SEED, sample=2, via=via, profile=False,
                              replicas=replicas, max_quiet=None if speed == "burst" else 2.0)
    base = Settings(kafka_bootstrap=infrastructure.kafka_bootstrap, database_url=infrastructure.admin_database_url)
    async with measure.fresh_run(base=base) as (name, settings):
        results = await run.benchmark(args, run.replay.parse_speed(speed), name, settings,
                                      run.ROOT / ".local" / "bench" / name)
    s = scenario.build(day, sample=2)
    assert results["audit"]["clean"], results["audit"]["examples"]
    assert results["passengers_affected"] == len(s.affected) > 0
    assert sum(results["outcomes"].values()) == len(s.affected)
    assert results["outcomes"]["none"] == 0
    assert results["first_notice_ms"]["n"] >= len(s.affected) * 0.9  # one per usable channel; a few have none
    assert results["outcome_complete_s"] > 0 and results["throughput_pax_per_s"] > 0
    assert results["ceiling"]["kafka_roundtrip_msgs_per_s"] > 0 and results["ceiling"]["pg_rows_per_s"] > 0
    assert results["topic_messages_audited"] > len(s.bookings)  # every topic was read for contact details
    stem = f"{day}-{speed}-{scenario.SEED}-sample2" + ("-replicas2" if replicas > 1 else "")
    written = run.RESULTS / f"{stem}.json"
    assert json.loads(written.read_text())["passengers_affected"] == len(s.affected)
    # The second process of each service ran beside the first, its CPU counted with the rest.
    assert all(results["cpu_ms_per_passenger"]["rebound"].get(f"{service}-2", 0) > 0 for service in run.SERVICES) \
        if replicas > 1 else "disruption-2" not in results["cpu_ms_per_passenger"]["rebound"]
    assert written.with_suffix(".html").read_text().count("data:image/png;base64,") == 3
