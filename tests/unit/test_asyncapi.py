"""The AsyncAPI document: valid by the official AsyncAPI parser (@asyncapi/parser, from npm), true
to what the services really read and write, and describing real events byte for byte: our own
envelopes and the official CloudEvents SDK's messages in both modes validate against it."""

import json
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema_rs
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from bench import small_scenario
from shared import contract, topics
from shared.events import (
    FLIGHT_EVENT_TYPES,
    Envelope,
    FlightArrived,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightDiverted,
    FlightRef,
    FlightReinstated,
    FlightRetimed,
    type_name,
)
from tests.topology import read_by_service

PARSER = Path(__file__).parents[1] / "asyncapi"
DOCUMENT = contract.asyncapi()
REF = FlightRef(carrier="B6", number="1001", departure_date=date(2013, 2, 8), origin="JFK")
AT = datetime(2013, 2, 8, 15, tzinfo=UTC)
FLIGHT_EVENTS = [
    FlightCancelled(partner_event_id="c", flight=REF, reason="weather"),
    FlightReinstated(partner_event_id="r", flight=REF),
    FlightDelayed(partner_event_id="d", flight=REF, estimated_departure=AT, delay_codes=[{"code": "71"}]),
    FlightDiverted(partner_event_id="v", flight=REF, new_destination="BOS"),
    FlightRetimed(partner_event_id="t", flight=REF, scheduled_departure=AT, scheduled_arrival=AT),
    FlightDeparted(partner_event_id="o", flight=REF, actual_departure=AT),
    FlightArrived(partner_event_id="a", flight=REF, actual_arrival=AT),
]


def validator(message: str) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(DOCUMENT | {"$ref": f"#/components/messages/{message}/payload"})


def test_the_official_parser_finds_no_error(tmp_path):
    assert (PARSER / "node_modules" / "@asyncapi" / "parser").is_dir(), "run `make asyncapi-parser` first"
    document = tmp_path / "asyncapi.json"
    document.write_text(json.dumps(DOCUMENT))
    run = subprocess.run(["node", str(PARSER / "validate.mjs"), str(document)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert DOCUMENT["asyncapi"].startswith("3.")


def test_a_channel_per_topic_with_what_the_services_really_read():
    read = {}
    for by_topic in read_by_service().values():
        for topic, types in by_topic.items():
            read.setdefault(topic, set()).update(types)
    for topic in topics.ALL:
        channel = DOCUMENT["channels"][topic.replace("-", "_")]
        assert channel["address"] == topic
        carried = {DOCUMENT["components"]["messages"][m["$ref"].rsplit("/", 1)[1]]["name"].split(" ")[0]
                   for m in channel["messages"].values()}
        assert carried == {type_name(m) for m in topics.CARRIES[topic]}
        assert read.get(topic, set()) <= carried, topic  # nothing read that the document does not name
        assert DOCUMENT["channels"][f"{topic.replace('-', '_')}_dlq"]["address"] == f"{topic}.dlq"


@pytest.mark.parametrize("event", FLIGHT_EVENTS, ids=lambda e: e.type)
def test_flight_events_in_every_form_match_their_messages(event):
    name = type_name(type(event)).replace(".", "_")
    ours = json.loads(Envelope.wrap(event, source="partner/demo", subject="B61001",
                                    traceparent="00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01").to_bytes())
    assert validator(name).is_valid(ours)
    data = event.model_dump(mode="json", exclude={"type", "partner_event_id", "occurred_at"})
    sdk = CloudEvent(attributes={"type": f"com.example.{event.type}", "source": "/ops", "partitionkey": "B61001"},
                     data=data)
    assert validator(f"{name}_structured").is_valid(json.loads(ce_kafka.to_structured(sdk, JSONFormat()).value))
    assert validator(f"{name}_binary").is_valid(json.loads(ce_kafka.to_binary(sdk, JSONFormat()).value))
    # And what the models refuse, the document refuses.
    ours["data"]["flight"]["number"] = "12345"
    assert not validator(name).is_valid(ours)
    assert not validator(name).is_valid(ours | {"type": "flight.teleported"})


def test_reservation_events_match_their_messages():
    scenario = small_scenario.build()
    for item in [*scenario.flights, *scenario.bookings]:
        envelope = Envelope.wrap(item, source="reservations/test", subject="x")
        assert validator(item.type.replace(".", "_")).is_valid(json.loads(envelope.to_bytes())), item


def test_every_flight_event_type_has_its_three_forms():
    messages = DOCUMENT["components"]["messages"]
    for model in FLIGHT_EVENT_TYPES:
        name = type_name(model).replace(".", "_")
        assert {name, f"{name}_structured", f"{name}_binary"} <= set(messages)
        assert messages[name]["bindings"]["kafka"]["key"]["description"] == topics.KEYS[topics.FLIGHT_EVENTS]
