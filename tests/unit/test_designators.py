"""ICAO airline designators are paired with IATA ones only within the dates the pairing held, never
stretched; an operator adds a pairing the table lacks, with its dates, and every refusal says how.

The dates are OpenTravelData's (github.com/opentraveldata/opentraveldata, optd_airlines.csv, CC BY
4.0), as `services/disruption/data/airline_designators.csv` keeps them: Virgin America (VRD/VX)
flew from 2007-08-08 to 2018-04-24, when Alaska Airlines absorbed it; Thomson Airways (TOM/BY)
became TUI Airways on 2017-10-02 under the same codes."""

from datetime import date

import pytest

from services.disruption import designators, iata
from services.disruption.config import DisruptionSettings
from tests.unit.test_iata_messages import RECEIVED


@pytest.fixture(autouse=True)
def table_only():
    designators.use_pairings(())
    yield
    designators.use_pairings(())


def test_a_pairing_is_taken_within_its_dates_and_across_a_rebrand():
    assert designators.airline("VRD", date(2013, 2, 8)) == "VX"
    assert designators.airline("TOM", date(2016, 5, 1)) == designators.airline("TOM", date(2019, 5, 1)) == "BY"


def test_a_pairing_is_never_stretched_before_it_began_nor_after_it_ended():
    for day in (date(2005, 1, 1), date(2019, 1, 1)):
        with pytest.raises(designators.UnknownDesignator) as refused:
            designators.airline("VRD", day)
        reason = str(refused.value)
        assert f"'VRD' had no IATA designator on {day.isoformat()}" in reason
        assert "VX, Virgin America, from 2007-08-08 to 2018-04-24" in reason
        assert "REBOUND_AIRLINE_PAIRINGS (ICAO:IATA:from:to)" in reason


def test_an_operator_adds_a_pairing_with_its_dates_and_it_holds_within_them_only():
    designators.use_pairings(designators.parse_pairings("VRD:VX:2005-01-01:2007-08-07, ZZZ:Z9::"))
    assert designators.airline("VRD", date(2006, 3, 1)) == "VX"
    assert designators.airline("ZZZ", date(2030, 1, 1)) == "Z9"
    with pytest.raises(designators.UnknownDesignator):
        designators.airline("VRD", date(2004, 12, 31))


def test_a_message_naming_an_airline_outside_its_dates_is_refused_with_its_name_and_line():
    (parsed,) = iata.parse_text("MVT\nVRD1001/08.N621VA.SFO\nAD0930/0942", RECEIVED.replace(year=2019))
    assert parsed.events == [] and parsed.error is not None and parsed.error.line == 2
    assert "Virgin America" in parsed.error.reason


@pytest.mark.parametrize("written", ["TOM:BY:2004-01-01", "TO:BY::", "TOM:BY:2004-13-01:", "TOM:BYX::"])
def test_a_malformed_pairing_is_refused_at_start_up(written):
    with pytest.raises(ValueError, match="REBOUND_AIRLINE_PAIRINGS: pairing 1"):
        DisruptionSettings(environment="test", airline_pairings=written)
