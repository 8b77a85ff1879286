"""Console keys limited to airlines and stations, as partner keys are (issue 35: an ops-agent key
in the wrong hands acted on every flight of every airline the deployment serves)."""

import pytest

from shared.settings import Settings, load


def keys(value: str):
    return Settings(api_keys=value).access().keys


def test_a_console_key_names_its_airlines_and_stations():
    [agent, viewer, whole] = keys("ops-agent@Ana Ruiz/carriers=B6+AA/stations=JFK+BOS:k1,"
                                  "ops-viewer/stations=LHR:k2,ops-agent@Lee:k3")
    assert (agent.role, agent.holder, agent.key) == ("ops-agent", "Ana Ruiz", "k1")
    assert agent.carriers == {"B6", "AA"} and agent.stations == {"JFK", "BOS"}
    assert (viewer.holder, viewer.carriers, viewer.stations) == ("ops-viewer key 2", None, {"LHR"})
    assert whole.carriers is None and whole.stations is None and whole.scope == "every flight"


def test_a_flight_is_covered_by_its_airline_and_any_of_its_airports():
    [agent] = keys("ops-agent/carriers=B6/stations=JFK:k")
    assert agent.covers("B6", ["JFK", "BOS", None])
    assert agent.covers("B6", ["BOS", "BUF", "JFK"])  # diverted to JFK
    assert not agent.covers("AA", ["JFK", "BOS"])
    assert not agent.covers("B6", ["BOS", "BUF", None])
    assert agent.scope == "B6 flights at JFK"


@pytest.mark.parametrize("entry", ["ops-agent/carriers=b6:secret", "ops-agent/airlines=B6:secret",
                                   "ops-agent/carriers=:secret", "ops-agent/carriers=B6/carriers=AA:secret",
                                   "ops-agent/stations=JFK+LGA"])
def test_a_malformed_scope_is_refused_never_read_as_no_limit(entry, monkeypatch):
    """A typo must not widen a key to every flight; the error names the key by position only."""
    monkeypatch.setenv("REBOUND_API_KEYS", entry)
    with pytest.raises(SystemExit) as refused:
        load(Settings)
    assert "key 1" in str(refused.value) and "secret" not in str(refused.value)
