"""The compensation-regime how-to (docs/how-to/compensation-regime.md), followed as written: a
new version of a regime is one TOML file that amends only what changes, judged by the date of the
flight; and the regime registry (`services/compensation/regimes`) is the one place the loader, the
engine and the overlap rules learn the regimes from.

The example amendment is a hypothetical next inflation adjustment of 14 CFR 250.5(e)'s limits
(the Department adjusts them every two years; the 2025 file is the real 89 FR 84815 one). The case
is the fine-print table's `us-bumped-400pct-capped-2150`: bumped JFK–LAX against their will with
no alternative, fare USD 900, so 400 % is owed, capped at the limit in force."""

import shutil
import typing
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from services.compensation import case as case_module
from services.compensation import engine, rules
from services.compensation.case import Case
from services.compensation.regimes import BY_NAME, COMPENSATING, LAW, REGIMES
from shared import events

AMENDMENT = """\
regime = "US_DOT"
version = "2027-01-22"
effective_from = 2027-01-22
title = "14 CFR part 250 (denied boarding compensation limits, an example adjustment)"

[rules.denied_boarding]
source = "14 CFR 250.5(e) as it would be adjusted in 2027 (an example for the how-to)"
maximum = [1200, 2400]
"""


def bumped(departure: str) -> Case:
    dep = datetime.fromisoformat(departure)
    return Case.model_validate({
        "booking": "ABC123", "passenger": {"id": "P1"}, "operating_carrier": "B6",
        "fare": {"amount": "900", "currency": "USD", "payment": "credit_card"},
        "itinerary": [{"flight": "B6 23", "origin": "JFK", "destination": "LAX", "scheduled_departure": dep.isoformat(),
                       "scheduled_arrival": (dep + timedelta(hours=6)).isoformat()}],
        "disruption": {"kind": "denied_boarding", "cause": "commercial",
                       "announced_at": (dep - timedelta(hours=2)).isoformat()}})


def compensation(c: Case, book: rules.RuleBook) -> Decimal:
    return next(e.amount for e in engine.evaluate(c, book).entitlements if e.regime == "US_DOT"
                and e.kind == "compensation")


@pytest.fixture
def amended(tmp_path: Path) -> rules.RuleBook:
    shutil.copytree(rules.HERE, tmp_path / "rules", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (tmp_path / "rules" / "us_dot-2027.toml").write_text(AMENDMENT)
    return rules.load(tmp_path / "rules")


def test_a_new_version_amends_only_what_it_names_from_its_date(amended):
    shipped = rules.load()
    assert compensation(bumped("2025-03-10T08:00:00-04:00"), shipped) == 2150
    assert compensation(bumped("2025-03-10T08:00:00-04:00"), amended) == 2150  # before it took effect
    assert compensation(bumped("2027-03-10T08:00:00-05:00"), amended) == 2400
    later = amended.in_force("US_DOT", datetime(2027, 3, 10).date())
    earlier = amended.in_force("US_DOT", datetime(2025, 3, 10).date())
    assert isinstance(later, rules.UsDot) and isinstance(earlier, rules.UsDot)
    assert later.rules.denied_boarding.percent == earlier.rules.denied_boarding.percent  # not named: kept
    assert later.rules.refund == earlier.rules.refund


def test_a_file_naming_no_registered_regime_fails_at_start_up(tmp_path):
    shutil.copytree(rules.HERE, tmp_path / "rules", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (tmp_path / "rules" / "xx.toml").write_text(AMENDMENT.replace('"US_DOT"', '"XX"'))
    with pytest.raises(ValueError, match="xx.toml: regime must be one of"):
        rules.load(tmp_path / "rules")


def test_the_registry_is_the_one_list_of_regimes():
    names = [regime.name for regime in REGIMES]
    assert set(names) == set(BY_NAME) and len(names) == len(set(names))
    assert LAW == ("EU261", "UK261", "APPR", "US_DOT") and COMPENSATING == ("EU261", "UK261", "APPR")
    # The event contract cannot be derived (an older release reads it): it must name the same regimes.
    assert set(typing.get_args(case_module.Regime)) == set(names)
    assert set(typing.get_args(events.Grant.model_fields["regime"].annotation)) == set(names)
    shipped = rules.load()
    assert {regime for regime in shipped.versions} == set(names)
