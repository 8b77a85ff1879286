"""The regimes a case is judged under, registered here and nowhere else: each one's name, the model
its rule files are read into (`rules`), the function that judges a case by them, and how it ranks
where regimes overlap. The engine asks them in this order; the rule book's loader reads the
models from here. Pure: no I/O.

Adding a regime: its module beside these (a `judge(facts, rules)` returning its grants, or None
where it does not apply), its rule files in `rules/`, and an entry below. See the how-to,
docs/how-to/compensation-regime.md."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.compensation import rules as rb
from services.compensation.facts import Facts, Grants
from services.compensation.regimes import airline, appr, eu_style, us_dot


@dataclass(frozen=True)
class Regime:
    name: str
    rules: type[rb.RegimeRules]  # the model its rule files are read into
    judge: Callable[[Facts, Any], Grants | None]
    # A law ranks before the airline's own commitments where two grant the same kind, in this order.
    law: bool = True
    # Compensates and cares for passengers departing its territory: an EU261 or UK261 arrival is
    # covered only when the passenger gets no such benefits where they departed (Art. 3(1)(b)).
    compensating: bool = False


REGIMES: tuple[Regime, ...] = (
    Regime("EU261", rb.EuStyle, eu_style.judge, compensating=True),
    Regime("UK261", rb.EuStyle, eu_style.judge, compensating=True),
    Regime("APPR", rb.Appr, appr.judge, compensating=True),
    Regime("US_DOT", rb.UsDot, us_dot.judge),
    Regime("AIRLINE", rb.Airlines, airline.judge, law=False),
)
BY_NAME = {regime.name: regime for regime in REGIMES}
LAW = tuple(regime.name for regime in REGIMES if regime.law)
COMPENSATING = tuple(regime.name for regime in REGIMES if regime.compensating)
