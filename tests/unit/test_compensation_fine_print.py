"""The law's fine print, case by case: who is covered (by journey, by date, by carrier), what a
flight brought forward, a no-show, a denied boarding, a diversion or a codeshare is owed. Each
case is built from its source — the regulation's text, a judgment, the Commission's guidelines,
the eCFR — and cited beside it. Pure: no I/O."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.compensation import engine, rules
from services.compensation.case import Case

BOOK = rules.load()
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


def leg(flight: str, origin: str, destination: str, departs: str, hours: float, **extra) -> dict:
    dep = datetime.fromisoformat(departs)
    return {"flight": flight, "origin": origin, "destination": destination, "scheduled_departure": dep.isoformat(),
            "scheduled_arrival": (dep + hours * H).isoformat(), "operating_carrier": flight.split()[0]} | extra


def case(legs: list[dict], kind: str = "delay", cause: str = "technical", *, flight: str | None = None,
         notice: timedelta = 2 * H, late: timedelta | None = None, alt: tuple[timedelta, timedelta] | None = None,
         accepted: bool = True, choice: str | None = None, fare: str = "500", currency: str = "EUR",
         disruption: dict | None = None, alternative_extra: dict | None = None, extra_fare: dict | None = None,
         **extra) -> Case:
    """`late`: arrival delay at the end of the disrupted flight's journey (its last flight before a
    stopover or the turnaround); `alt`: the alternative's departure and arrival against the plan."""
    flight = flight or legs[0]["flight"]
    at = next(i for i, x in enumerate(legs) if x["flight"] == flight)
    end = at
    while end + 1 < len(legs) and legs[end + 1]["origin"] == legs[end]["destination"] \
            and legs[end + 1]["destination"] != legs[0]["origin"] \
            and datetime.fromisoformat(legs[end + 1]["scheduled_departure"]) \
            - datetime.fromisoformat(legs[end]["scheduled_arrival"]) <= D:
        end += 1
    dep = datetime.fromisoformat(legs[at]["scheduled_departure"])
    arr = datetime.fromisoformat(legs[end]["scheduled_arrival"])
    data: dict[str, Any] = {"booking": "ABC123", "passenger": {"id": "P1"},
            "fare": {"amount": fare, "currency": currency, "payment": "credit_card"} | (extra_fare or {}),
            "itinerary": legs,
            "disruption": {"kind": kind, "cause": cause, "announced_at": (dep - notice).isoformat(), "flight": flight}
            | (disruption or {}),
            "passenger_choice": choice}
    if late is not None:
        data["disruption"]["actual_arrival"] = (arr + late).isoformat()
    if alt is not None:
        data["alternative"] = {"departure": (dep + alt[0]).isoformat(), "arrival": (arr + alt[1]).isoformat(),
                               "accepted": accepted} | (alternative_extra or {})
    return Case.model_validate(data | extra)


def owed(c: Case) -> dict[tuple[str, str], Decimal]:
    return {(e.regime, e.kind): e.amount for e in engine.evaluate(c, BOOK).entitlements}


# --- 1. UK261's reach ------------------------------------------------------------------------------
# UK261 Art. 3(1) as substituted by SI 2019/278 reg. 8(4) (legislation.gov.uk/eur/2004/261/article/3):
# (a) departing the UK; (b) from a country other than the UK (i) into the UK on a Community carrier
# or a UK air carrier, (ii) into the EU on a UK air carrier — unless benefits or compensation and
# assistance were given in that other country. The CAA's guidance says the same: flights from UK
# airports, into the UK on a UK or EU airline, into the EU on a UK airline.
JFK_LHR = "2025-03-10T18:00:00-04:00"
UK_REACH = [
    ("uk-into-uk-on-uk-carrier", case([leg("BA 178", "JFK", "LHR", JFK_LHR, 7)], late=5 * H),
     {("UK261", "compensation"): 520}, [("EU261", "compensation")]),
    ("uk-into-uk-on-eu-carrier", case([leg("IB 6251", "JFK", "LHR", JFK_LHR, 7)], late=5 * H),
     {("UK261", "compensation"): 520}, [("EU261", "compensation")]),
    ("uk-into-uk-on-us-carrier", case([leg("AA 100", "JFK", "LHR", JFK_LHR, 7)], late=5 * H), {},
     [("UK261", "compensation"), ("EU261", "compensation")]),
    ("uk-into-eu-on-uk-carrier", case([leg("BA 1", "JFK", "CDG", JFK_LHR, 7)], late=5 * H),
     {("UK261", "compensation"): 520}, [("EU261", "compensation")]),
    ("uk-not-into-eu-on-eu-carrier", case([leg("AF 9", "JFK", "CDG", JFK_LHR, 7)], late=5 * H),
     {("EU261", "compensation"): 600}, [("UK261", "compensation")]),
    # EU261 covers the departure and gives compensation and care: UK261's arrival cover gives way.
    ("uk-arrival-after-eu-departure", case([leg("BA 303", "CDG", "LHR", "2025-03-10T10:00:00+01:00", 1.25)],
                                           late=3 * H), {("EU261", "compensation"): 250, ("EU261", "meal"): 15},
     [("UK261", "compensation"), ("UK261", "meal")]),
    ("uk-departure-before-eu-arrival", case([leg("AF 1381", "LHR", "CDG", "2025-03-10T10:00:00+00:00", 1.25)],
                                            late=3 * H), {("UK261", "compensation"): 220},
     [("EU261", "compensation")]),
    ("uk-was-eu-in-2019", case([leg("BA 178", "JFK", "LHR", "2019-03-10T18:00:00-04:00", 7)], late=5 * H),
     {("EU261", "compensation"): 600}, [("UK261", "compensation")]),
]

# --- 2. The journey decides, not the disrupted leg ---------------------------------------------------
# Chelluri v Air India [2021] EWCA Civ 1953: Kansas City–Detroit–London–Mumbai–Bengaluru on one
# booking, the London–Mumbai leg 48 h late: outside the Regulation (it neither departs nor arrives
# in the EU/UK as a journey). Wegener (C-537/17): Berlin–Casablanca–Agadir, the second leg late:
# covered, as the journey departs the EU. České aerolinie (C-502/18): Prague–Abu Dhabi–Bangkok, the
# second leg late on a non-EU carrier: covered, the distance measured Prague–Bangkok. Airhelp v
# Austrian Airlines (C-451/20): Chisinau (RMO, once KIV)–Vienna–Bangkok on an EU carrier, from a third country to
# a third country with the connection in a Member State: outside the Regulation.
CHELLURI = [leg("DL 5290", "MCI", "DTW", "2019-05-01T06:00:00-05:00", 2),
            leg("DL 274", "DTW", "LHR", "2019-05-01T10:00:00-04:00", 8),
            leg("AI 130", "LHR", "BOM", "2019-05-02T11:00:00+01:00", 9),
            leg("AI 605", "BOM", "BLR", "2019-05-03T02:00:00+05:30", 2)]
JOURNEY = [
    ("chelluri-third-country-to-third-country", case(CHELLURI, flight="AI 130", late=48 * H, currency="USD"), {},
     [("EU261", "compensation"), ("UK261", "compensation"), ("EU261", "meal"), ("EU261", "hotel")]),
    ("us-germany-india-second-leg", case([leg("LH 401", "JFK", "FRA", "2025-03-10T18:00:00-04:00", 7.5),
                                          leg("LH 760", "FRA", "DEL", "2025-03-11T13:30:00+01:00", 7.5)],
                                         flight="LH 760", late=5 * H), {}, [("EU261", "compensation")]),
    ("wegener-eu-departure-second-leg", case([leg("AT 811", "TXL", "CMN", "2015-08-01T10:00:00+02:00", 4),
                                              leg("AT 407", "CMN", "AGA", "2015-08-01T15:00:00+00:00", 1)],
                                             flight="AT 407", late=4 * H), {("EU261", "compensation"): 400}, []),
    ("airhelp-austrian-third-country-via-vienna", case([leg("OS 656", "RMO", "VIE", "2019-03-01T06:00:00+02:00", 2),
                                                        leg("OS 25", "VIE", "BKK", "2019-03-01T10:00:00+01:00", 10)],
                                                       "cancellation", notice=H), {},
     [("EU261", "compensation"), ("EU261", "refund")]),
    ("cesk-aerolinie-prague-bangkok", case([leg("OK 474", "PRG", "AUH", "2017-03-01T10:00:00+01:00", 6),
                                            leg("EY 402", "AUH", "BKK", "2017-03-01T22:00:00+04:00", 6)],
                                           flight="EY 402", late=5 * H), {("EU261", "compensation"): 600}, []),
]

# --- 3. An outward and a return flight are two journeys ----------------------------------------------
# Emirates v Schenkel (C-173/07): Düsseldorf–Manila and back on one booking; the return from
# Manila on a non-EU carrier is not a flight departing the EU, however booked. Same-day returns
# too: the return is judged from where it leaves, over its own distance.
SAME_DAY = [leg("TK 1587", "IST", "FRA", "2025-03-10T06:00:00+03:00", 3),
            leg("TK 1588", "FRA", "IST", "2025-03-10T18:00:00+01:00", 3)]
ROUND_TRIP = [leg("EK 56", "DUS", "DXB", "2025-03-01T21:00:00+01:00", 6),
              leg("EK 332", "DXB", "MNL", "2025-03-02T07:00:00+04:00", 9),
              leg("EK 335", "MNL", "DXB", "2025-03-15T10:00:00+08:00", 9),
              leg("EK 55", "DXB", "DUS", "2025-03-15T15:00:00+04:00", 7)]
RETURNS = [
    ("same-day-return-is-its-own-journey", case(SAME_DAY, "cancellation", flight="TK 1588", notice=2 * D),
     {("EU261", "compensation"): 400}, []),  # Frankfurt–Istanbul, 1,839 km, not intra-EU: EUR 400
    ("same-day-outward-into-eu-on-non-eu-carrier", case(SAME_DAY, flight="TK 1587", late=5 * H), {},
     [("EU261", "compensation")]),
    ("emirates-return-from-manila", case(ROUND_TRIP, "cancellation", flight="EK 335", notice=D), {},
     [("EU261", "compensation"), ("EU261", "refund")]),
    ("emirates-outward-from-dusseldorf", case(ROUND_TRIP, "cancellation", flight="EK 56", notice=D,
                                              alt=(D, D)), {("EU261", "compensation"): 600}, []),
]

# --- 4. A flight brought forward ---------------------------------------------------------------------
# Azurair (C-146/20, joined cases): a flight brought forward by more than an hour is cancelled; the
# Art. 7(2) halving is for a re-routing that arrives late, not earlier (Commission guidelines
# C/2024/5687, 4.4.10).
FRA_JFK = [leg("LH 400", "FRA", "JFK", "2025-03-10T10:00:00+01:00", 8.75)]
EARLIER = [
    ("brought-forward-re-routing-not-halved", case(FRA_JFK, "cancellation", notice=3 * D, alt=(-3 * H, -2 * H)),
     {("EU261", "compensation"): 600}, []),
    ("brought-forward-3h-is-cancelled", case(FRA_JFK, notice=5 * D, disruption={
        "expected_departure": "2025-03-10T07:00:00+01:00", "actual_arrival": "2025-03-10T09:45:00-04:00"}),
     {("EU261", "compensation"): 600}, []),
    ("brought-forward-2h-told-a-week-ahead-re-routed-in-time", case(FRA_JFK, notice=10 * D, disruption={
        "expected_departure": "2025-03-10T08:00:00+01:00", "actual_arrival": "2025-03-10T10:45:00-04:00"}),
     {}, [("EU261", "compensation")]),  # Art. 5(1)(c)(ii): at most 2 h earlier, told 7-14 days ahead
    ("brought-forward-1h-is-no-cancellation", case(FRA_JFK, notice=5 * D, disruption={
        "expected_departure": "2025-03-10T09:00:00+01:00", "actual_arrival": "2025-03-10T11:45:00-04:00"}),
     {}, [("EU261", "compensation")]),
    # leaves 3 h early (more than the 1 h allowed when told under 7 days ahead), lands on time: halved
    ("re-routed-arriving-on-time-still-halved", case(FRA_JFK, "cancellation", notice=3 * D, alt=(-3 * H, 0 * H)),
     {("EU261", "compensation"): 300}, []),
]

# --- 5. From a third country on an EU carrier: benefits AND assistance ----------------------------
# EU261 Art. 3(1)(b): covered "unless they received benefits or compensation and were given
# assistance in that third country". APPR s. 10 gives neither compensation nor care outside the
# carrier's control; s. 14 gives food and drink to a passenger told less than 12 hours ahead once
# they have waited 2 hours, within its control (s. 11-12); s. 10(1)(j) puts a labour disruption
# within the carrier outside its control, where EU law does not (Airhelp v SAS, C-28/20).
YYZ_FRA = [leg("LH 471", "YYZ", "FRA", "2025-03-10T18:00:00-04:00", 8)]
YYZ_YVR = [leg("AC 101", "YYZ", "YVR", "2025-03-10T10:00:00-04:00", 5)]
THIRD_COUNTRY = [
    ("appr-gives-nothing-for-weather-so-eu261-cares", case(YYZ_FRA, cause="weather", late=5 * H, currency="CAD"),
     {("EU261", "meal"): 15}, [("EU261", "compensation"), ("APPR", "compensation")]),
    ("appr-pays-and-cares-so-eu261-gives-way", case(YYZ_FRA, late=5 * H, notice=H, currency="CAD"),
     {("APPR", "compensation"): 400, ("APPR", "meal"): 20}, [("EU261", "compensation"), ("EU261", "meal")]),
    ("own-staff-strike-outside-appr-inside-eu261", case(YYZ_FRA, cause="own_staff_strike", late=5 * H,
                                                        currency="CAD"),
     {("EU261", "compensation"): 600}, [("APPR", "compensation")]),
    ("appr-food-told-under-12h", case(YYZ_YVR, late=3 * H, notice=H, currency="CAD"),
     {("APPR", "meal"): 20, ("APPR", "compensation"): 400}, []),
    ("appr-no-food-told-12h-ahead", case(YYZ_YVR, late=3 * H, notice=12 * H, currency="CAD"), {},
     [("APPR", "meal")]),
    ("appr-no-food-before-2h", case(YYZ_YVR, late=H + 59 * M, notice=H, currency="CAD"), {}, [("APPR", "meal")]),
    ("appr-hotel-overnight", case(YYZ_YVR, late=20 * H, notice=H, currency="CAD"),
     {("APPR", "hotel"): 175, ("APPR", "transport"): 50}, []),
    ("us-gives-no-care-so-eu261-applies", case([leg("LH 401", "JFK", "FRA", "2025-03-10T18:00:00-04:00", 7.5)],
                                               late=5 * H), {("EU261", "compensation"): 600}, []),
]

# --- 6. No delay compensation without the loss of time ------------------------------------------------
# Laudamotion (C-474/22, operative part): compensation for a long delay requires that the passenger
# presented themselves for check-in in time; the passenger who stayed away from a Düsseldorf–Palma
# flight that arrived 3 h 32 late is owed none. A cancellation needs no presence at check-in
# (Art. 3(2)(a), 5).
DUS_PMI = [leg("OE 112", "DUS", "PMI", "2018-06-26T06:00:00+02:00", 2.25)]
NO_SHOW = [
    ("laudamotion-no-show", case(DUS_PMI, late=3 * H + 32 * M, presented=False), {}, [("EU261", "compensation")]),
    ("laudamotion-presented", case(DUS_PMI, late=3 * H + 32 * M), {("EU261", "compensation"): 250}, []),
    ("delay-refunded-before-the-flight", case(DUS_PMI, late=6 * H, choice="refund"), {("EU261", "refund"): 500},
     [("EU261", "compensation"), ("EU261", "meal")]),
    ("cancellation-needs-no-check-in", case(DUS_PMI, "cancellation", notice=H, presented=False),
     {("EU261", "compensation"): 250, ("EU261", "refund"): 500}, []),
]

# --- 7. Care on a cancellation or denied boarding has no threshold --------------------------------------
# EU261 Art. 5(1)(b) and 4(3) give Art. 9 care without Art. 6's 2/3/4-hour limits; a volunteer gets
# Art. 8 only (Art. 4(1)).
FRA_CDG = [leg("LH 1028", "FRA", "CDG", "2025-03-10T10:00:00+01:00", 1.15)]
CARE = [
    ("cancellation-care-from-the-start", case(FRA_CDG, "cancellation", notice=2 * H, alt=(90 * M, 90 * M)),
     {("EU261", "meal"): 15}, [("EU261", "compensation")]),
    ("denied-boarding-care-from-the-start", case(FRA_JFK, "denied_boarding", "commercial", alt=(2 * H, 2 * H)),
     {("EU261", "meal"): 15, ("EU261", "compensation"): 300}, []),
    ("delay-care-keeps-its-threshold", case(FRA_CDG, late=H + 59 * M), {}, [("EU261", "meal")]),
    ("volunteer-gets-art-8-only", case(FRA_JFK, "denied_boarding", "commercial", alt=(5 * H, 5 * H),
                                       disruption={"volunteered": True}), {},
     [("EU261", "compensation"), ("EU261", "meal"), ("AIRLINE", "meal")]),
]

# --- 8. Territory by date -----------------------------------------------------------------------
# Mayotte an outermost region from 1 January 2014 (European Council Decision 2012/419/EU);
# Saint-Barthélemy out of the Union from 1 January 2012 (Decision 2010/718/EU); Croatia a Member
# State from 1 July 2013; the United Kingdom out at the end of 2020 (Withdrawal Agreement Art. 126).
def one(flight: str, origin: str, destination: str, when: str, hours: float = 1) -> list[dict]:
    return [leg(flight, origin, destination, when, hours)]


TERRITORY = [
    ("mayotte-2013-outside", case(one("MD 123", "DZA", "MJN", "2013-12-31T10:00:00+03:00"), late=4 * H), {},
     [("EU261", "compensation")]),
    ("mayotte-2014-inside", case(one("MD 123", "DZA", "MJN", "2014-01-01T10:00:00+03:00"), late=4 * H),
     {("EU261", "compensation"): 250}, []),
    ("saint-barthelemy-2011-inside", case(one("WM 1", "SBH", "SXM", "2011-12-31T10:00:00-04:00", 0.3),
                                          late=4 * H), {("EU261", "compensation"): 250}, []),
    ("saint-barthelemy-2012-outside", case(one("WM 1", "SBH", "SXM", "2012-01-01T10:00:00-04:00", 0.3),
                                           late=4 * H), {}, [("EU261", "compensation")]),
    ("croatia-before-accession", case(one("JU 1", "ZAG", "BEG", "2013-06-30T10:00:00+02:00"), late=4 * H), {},
     [("EU261", "compensation")]),
    ("croatia-after-accession", case(one("JU 1", "ZAG", "BEG", "2013-07-01T10:00:00+02:00"), late=4 * H),
     {("EU261", "compensation"): 250}, []),
    ("uk-last-day-in-eu261", case(one("AA 101", "LHR", "JFK", "2020-12-31T10:00:00+00:00", 8), late=5 * H),
     {("EU261", "compensation"): 600}, [("UK261", "compensation")]),
    ("uk-first-day-of-uk261", case(one("AA 101", "LHR", "JFK", "2021-01-01T10:00:00+00:00", 8), late=5 * H),
     {("UK261", "compensation"): 520}, [("EU261", "compensation")]),
]

# --- 9. Denied boarding ----------------------------------------------------------------------------------
# 14 CFR 250.5 (eCFR; limits 89 FR 84815 from 22 January 2025, 86 FR 2534 from 13 April 2021,
# 76 FR 23110 from 23 August 2011): 200 % of the one-way fare when the alternative arrives 1-2 h
# late (interstate) or 1-4 h (foreign), 400 % beyond; nothing within 1 h (250.6(d)); not for a
# passenger who did not check in (250.6(a)); volunteers agree their own price (250.2b).
# APPR s. 20(1): CAD 900 / 1,800 / 2,400 by arrival < 6 h / 6-9 h / 9 h+, within the carrier's control.
JFK_LAX = [leg("B6 23", "JFK", "LAX", "2025-03-10T08:00:00-04:00", 6)]
JFK_LHR_AA = [leg("AA 100", "JFK", "LHR", "2025-03-10T18:00:00-04:00", 7)]
DENIED = [
    ("us-bumped-1h30-200pct", case(JFK_LAX, "denied_boarding", "commercial", alt=(90 * M, 90 * M), fare="300",
                                   currency="USD"), {("US_DOT", "compensation"): 600}, []),
    ("us-bumped-2h-400pct", case(JFK_LAX, "denied_boarding", "commercial", alt=(2 * H, 2 * H), fare="300",
                                 currency="USD"), {("US_DOT", "compensation"): 1200}, []),
    ("us-bumped-within-1h-nothing", case(JFK_LAX, "denied_boarding", "commercial", alt=(50 * M, 50 * M),
                                         fare="300", currency="USD"), {}, [("US_DOT", "compensation")]),
    ("us-bumped-400pct-capped-2150", case(JFK_LAX, "denied_boarding", "commercial", fare="900", currency="USD"),
     {("US_DOT", "compensation"): 2150}, []),
    ("us-bumped-foreign-3h-200pct-capped", case(JFK_LHR_AA, "denied_boarding", "commercial", alt=(3 * H, 3 * H),
                                                fare="800", currency="USD"), {("US_DOT", "compensation"): 1075}, []),
    ("us-bumped-2013-cap-1300", case(one("B6 23", "JFK", "LAX", "2013-02-08T08:00:00-05:00", 6),
                                     "denied_boarding", "commercial", fare="500", currency="USD"),
     {("US_DOT", "compensation"): 1300}, []),
    ("us-volunteer-nothing-regulated", case(JFK_LAX, "denied_boarding", "commercial", alt=(3 * H, 3 * H),
                                            currency="USD", disruption={"volunteered": True}), {},
     [("US_DOT", "compensation")]),
    ("us-no-check-in-nothing", case(JFK_LAX, "denied_boarding", "commercial", alt=(3 * H, 3 * H), currency="USD",
                                    presented=False), {}, [("US_DOT", "compensation")]),
    ("appr-bumped-under-6h", case(YYZ_YVR, "denied_boarding", "commercial", alt=(5 * H, 5 * H), currency="CAD"),
     {("APPR", "compensation"): 900}, []),
    ("appr-bumped-7h", case(YYZ_YVR, "denied_boarding", "commercial", alt=(7 * H, 7 * H), currency="CAD"),
     {("APPR", "compensation"): 1800}, []),
    ("appr-bumped-10h", case(YYZ_YVR, "denied_boarding", "commercial", alt=(10 * H, 10 * H), currency="CAD"),
     {("APPR", "compensation"): 2400}, []),
    ("appr-small-carrier-same-amount", case([leg("PB 1", "YYZ", "YVR", "2025-03-10T10:00:00-04:00", 5)],
                                            "denied_boarding", "commercial", alt=(5 * H, 5 * H), currency="CAD"),
     {("APPR", "compensation"): 900}, []),
    ("appr-bumped-for-security-nothing", case(YYZ_YVR, "denied_boarding", "security", alt=(5 * H, 5 * H),
                                              currency="CAD"), {}, [("APPR", "compensation")]),
    ("eu-denied-boarding-400-band", case([leg("LH 1", "FRA", "TLV", "2025-03-10T10:00:00+01:00", 4)],
                                         "denied_boarding", "commercial", alt=(5 * H, 5 * H)),
     {("EU261", "compensation"): 400}, []),
]

# --- 10. What real bookings say -------------------------------------------------------------------------
# Codeshares: the Regulation binds the operating carrier (Art. 2(b), 3(5)); EU261 covers an arrival
# from a third country only on a Community operating carrier (Art. 3(1)(b)), whoever sold the seat.
# Causes: bird strikes extraordinary (Pešková, C-315/15), hidden manufacturing defects too (van der
# Lans, C-257/14), a collision with airport equipment not (Siewert, C-394/14), an own-staff strike
# not (Airhelp v SAS, C-28/20). Diversions: Art. 8(3) (Austrian Airlines, C-826/19).
CODESHARE_UA = [leg("LH 7600", "JFK", "FRA", "2025-03-10T18:00:00-04:00", 7.5, operating_carrier="UA",
                    marketing_carrier="LH")]
CODESHARE_LH = [leg("UA 8840", "JFK", "FRA", "2025-03-10T18:00:00-04:00", 7.5, operating_carrier="LH",
                    marketing_carrier="UA")]
FIELDS = [
    ("codeshare-sold-by-lh-flown-by-ua", case(CODESHARE_UA, late=5 * H), {}, [("EU261", "compensation")]),
    ("codeshare-sold-by-ua-flown-by-lh", case(CODESHARE_LH, late=5 * H),
     {("EU261", "compensation"): 600}, []),
    ("bird-strike-extraordinary", case(FRA_CDG, cause="bird_strike", late=4 * H), {("EU261", "meal"): 15},
     [("EU261", "compensation")]),
    ("bird-strike-outside-appr-control", case(YYZ_YVR, cause="bird_strike", late=4 * H, currency="CAD"), {},
     [("APPR", "compensation")]),
    ("manufacturing-defect-extraordinary", case(FRA_CDG, cause="manufacturing_defect", late=4 * H), {},
     [("EU261", "compensation")]),
    ("airport-stairs-collision-not-extraordinary", case(FRA_CDG, cause="ground_collision", late=4 * H),
     {("EU261", "compensation"): 250}, []),
    ("own-staff-strike-compensated-eu261", case(FRA_CDG, cause="own_staff_strike", late=4 * H),
     {("EU261", "compensation"): 250}, []),
    ("third-party-strike-extraordinary", case(FRA_CDG, cause="third_party_strike", late=4 * H), {},
     [("EU261", "compensation")]),
    ("diverted-to-a-co-terminal-is-a-delay", case(FRA_JFK, "diversion", late=3 * H + 30 * M,
                                                  disruption={"diverted_to": "EWR"}),
     {("EU261", "compensation"): 300, ("EU261", "transport"): 80}, []),
    ("diverted-far-is-a-cancellation", case(FRA_JFK, "diversion", disruption={"diverted_to": "BOS"}),
     {("EU261", "compensation"): 600}, [("EU261", "transport")]),
    ("diverted-vienna-to-bratislava-same-region", case([leg("OS 1", "FRA", "VIE", "2025-03-10T10:00:00+01:00",
                                                            1.25)], "diversion", late=3 * H,
                                                       disruption={"diverted_to": "BTS"}),
     {("EU261", "compensation"): 250, ("EU261", "transport"): 80}, []),
]

# --- 11. The airline's care agrees with its words: none for a cancellation told 14 days ahead ---
JFK_BOS = [leg("B6 1", "JFK", "BOS", "2025-03-10T08:00:00-04:00", 1.25)]
AIRLINE = [
    ("airline-no-care-told-15-days-ahead", case(JFK_BOS, "cancellation", "crew", notice=15 * D, alt=(D, D),
                                                currency="USD"), {}, [("AIRLINE", "meal"), ("AIRLINE", "hotel")]),
    ("airline-care-told-3-days-ahead", case(JFK_BOS, "cancellation", "crew", notice=3 * D, alt=(D, D),
                                            currency="USD"), {("AIRLINE", "meal"): 15, ("AIRLINE", "hotel"): 150}, []),
    # "travel credits by arrival delay": for a passenger who arrived late, not one who never flew
    ("airline-delay-credit-for-the-late-arrival", case(JFK_BOS, late=5 * H, currency="USD"),
     {("AIRLINE", "credit"): 150}, []),
    ("airline-no-delay-credit-after-a-refund", case(JFK_BOS, late=5 * H, choice="refund", currency="USD"), {},
     [("AIRLINE", "credit")]),
    ("airline-no-delay-credit-for-a-no-show", case(JFK_BOS, late=5 * H, presented=False, currency="USD"), {},
     [("AIRLINE", "credit")]),
]

# --- 12. Points the Court of Justice has decided -------------------------------------------------
# LATAM, C-238/22 (26 October 2023, ECLI:EU:C:2023:815; eur-lex.europa.eu CELEX 62022CJ0238): the
# passenger's return Madrid–Frankfurt of 7 January 2018 was blocked, and she was told so on
# 20 December 2017, more than two weeks before. Operative part: compensation for denied boarding
# is owed although she did not present herself for boarding, and the two-week exception for
# cancellations (Art. 5(1)(c)(i)) does not apply. Madrid–Frankfurt is 1,420 km: EUR 250 (Art. 7(1)(a)).
MAD_FRA = [leg("LA 704", "MAD", "FRA", "2018-01-07T12:00:00+01:00", 2.5)]
COURT = [
    ("latam-told-in-advance-need-not-present", case(MAD_FRA, "denied_boarding", "commercial", notice=18 * D,
                                                    presented=False, disruption={"denied_in_advance": True}),
     {("EU261", "compensation"): 250}, [("EU261", "meal"), ("EU261", "hotel")]),
    # Art. 3(2)(a) still holds where nobody told the passenger beforehand: a no-show is not denied boarding.
    ("no-show-without-notice-not-denied-boarding", case(MAD_FRA, "denied_boarding", "commercial", notice=18 * D,
                                                        presented=False), {}, [("EU261", "compensation")]),
    ("latam-a-volunteer-is-still-a-volunteer", case(MAD_FRA, "denied_boarding", "commercial", notice=18 * D,
                                                    presented=False,
                                                    disruption={"denied_in_advance": True, "volunteered": True}),
     {}, [("EU261", "compensation")]),
]

# Airhelp v Austrian Airlines, C-264/20 (order of 14 January 2021; the questions at eur-lex.europa.eu
# CELEX 62020CN0264): a flight cancelled because another airline's aircraft, pushed back from the
# opposite gate, damaged the parked aircraft's elevator; such a collision is an extraordinary
# circumstance (unlike airport equipment, Siewert C-394/14), but the carrier is exempt only if it
# re-routed the passenger at the earliest opportunity, another carrier's flights included, as TAP,
# C-74/19 (11 June 2020, ECLI:EU:C:2020:460) holds of "reasonable measures". Vienna–Frankfurt is
# 600 km: EUR 250.
VIE_FRA = [leg("OS 121", "VIE", "FRA", "2019-08-01T07:00:00+02:00", 1.5)]
COURT += [
    ("austrian-other-airlines-aircraft-extraordinary", case(VIE_FRA, "cancellation", "other_airline_collision",
                                                            alt=(D, D)),
     {}, [("EU261", "compensation")]),
    ("austrian-an-earlier-flight-not-offered-owes-compensation",
     case(VIE_FRA, "cancellation", "other_airline_collision", alt=(D, D),
          alternative_extra={"earlier_available": True}),
     {("EU261", "compensation"): 250}, []),
    ("tap-weather-with-an-earlier-flight-not-offered-owes-compensation",
     case(VIE_FRA, "cancellation", "weather", alt=(D, D), alternative_extra={"earlier_available": True}),
     {("EU261", "compensation"): 250}, []),
    ("airport-stairs-still-not-extraordinary", case(VIE_FRA, "cancellation", "ground_collision", alt=(D, D)),
     {("EU261", "compensation"): 250}, []),
]

ROWS = UK_REACH + JOURNEY + RETURNS + EARLIER + THIRD_COUNTRY + NO_SHOW + CARE + TERRITORY + DENIED + FIELDS + AIRLINE \
    + COURT


@pytest.mark.parametrize(("row_id", "c", "must", "must_not"), ROWS, ids=[r[0] for r in ROWS])
def test_fine_print(row_id, c, must, must_not):
    got = owed(c)
    for key, amount in must.items():
        assert got.get(key) == Decimal(amount), (row_id, key, got)
    for key in must_not:
        assert key not in got, (row_id, key, got)


def test_a_round_trip_refund_is_the_journey_not_the_ticket():
    """Art. 8(1)(a): the cost of the ticket "for the part or parts of the journey not made": the
    return cancelled refunds the return's share; the outward cancelled makes the trip pointless
    and refunds it all."""
    trip = [leg("LH 1300", "FRA", "IST", "2025-03-10T07:00:00+01:00", 3),
            leg("LH 1301", "IST", "FRA", "2025-03-10T16:00:00+03:00", 3)]
    back = owed(case(trip, "cancellation", flight="LH 1301", notice=2 * D, fare="600"))
    assert back[("EU261", "refund")] == 300  # the same distance each way
    out = owed(case(trip, "cancellation", flight="LH 1300", notice=2 * D, fare="600"))
    assert out[("EU261", "refund")] == 600


def test_coupon_values_and_taxes_price_a_downgrade():
    """Mennens (C-255/15): a downgrade refunds a share of the price of the flight concerned,
    without taxes and charges; a ticket that prices each coupon is read as priced."""
    legs = [leg("LH 1", "CDG", "FRA", "2025-03-10T07:00:00+01:00", 1.2, coupon={"amount": 200, "taxes": 50}),
            leg("LH 400", "FRA", "JFK", "2025-03-10T10:00:00+01:00", 8.75, coupon={"amount": 800, "taxes": 200})]
    refund = owed(case(legs, "downgrade", "operational", flight="LH 400", fare="1000"))
    assert refund[("EU261", "refund")] == Decimal("450.00")  # 75 % of 800 - 200
    taxed = case(FRA_JFK, "downgrade", "operational").model_dump(mode="json") | {
        "fare": {"amount": 1000, "taxes": 200, "currency": "EUR", "payment": "credit_card"}}
    single = owed(Case.model_validate(taxed))
    assert single[("EU261", "refund")] == Decimal("600.00")  # 75 % of 1,000 - 200


def test_delfly_compensation_in_the_passengers_currency():
    """Delfly (C-356/19): EUR 400 for a flight from a third country into Poland, claimed as
    PLN 1,698.64 — the passenger may be paid in their national currency."""
    into_poland = [leg("LO 1", "TLV", "WAW", "2017-07-23T10:00:00+03:00", 4)]
    c = case(into_poland, late=4 * H, payout={"currency": "PLN", "rate": "4.2466"})
    e = next(e for e in engine.evaluate(c, BOOK).entitlements if e.kind == "compensation")
    assert (e.regime, e.amount, e.currency) == ("EU261", 400, "EUR")
    assert (e.payout_amount, e.payout_currency) == (Decimal("1698.64"), "PLN")


def test_a_case_needs_an_operator_for_every_flight():
    legs = [leg("LH 1", "CDG", "FRA", "2025-03-10T07:00:00+01:00", 1.2)]
    legs[0].pop("operating_carrier")
    with pytest.raises(ValueError, match="itinerary.0.operating_carrier"):
        case(legs)


def test_a_diversion_says_where_it_landed():
    with pytest.raises(ValueError, match="diverted_to"):
        case(FRA_JFK, "diversion")


def test_at_least_seventy_fine_print_cases():
    assert len(ROWS) >= 70


# Finnair, C-832/18 (12 March 2020, ECLI:EU:C:2020:204; curia.europa.eu docid 224383): the Helsinki–
# Singapore flight was cancelled for a technical defect; the re-routing via Chongqing the next day
# arrived almost 19 hours late, for an "on condition" part that failed. Finnair paid EUR 600 for
# the cancellation and refused a second EUR 600; the Court held a second compensation owed, and
# the part's failure not extraordinary. Helsinki–Singapore is 9,200 km: EUR 600 each time.
HEL_SIN = [leg("AY 131", "HEL", "SIN", "2016-12-14T23:55:00+02:00", 11.5)]


def finnair(late: timedelta, cause: str = "technical", first_cause: str = "technical") -> dict[str, list[Decimal]]:
    planned = datetime.fromisoformat(HEL_SIN[0]["scheduled_arrival"]) + D
    c = case(HEL_SIN, "cancellation", first_cause, notice=2 * H, alt=(D, D),
             alternative_extra={"actual_arrival": (planned + late).isoformat(), "cause": cause})
    found: dict[str, list[Decimal]] = {}
    for e in engine.evaluate(c, BOOK).entitlements:
        if e.regime == "EU261" and e.kind == "compensation":
            found.setdefault(e.rule, []).append(e.amount)
    return found


def test_finnair_a_late_re_routing_owes_compensation_a_second_time():
    assert finnair(19 * H) == {"eu261.compensation": [Decimal(600)], "eu261.rerouting_compensation": [Decimal(600)]}
    assert "C-832/18" in next(e.source for e in engine.evaluate(case(
        HEL_SIN, "cancellation", "technical", alt=(D, D), alternative_extra={
            "actual_arrival": (datetime.fromisoformat(HEL_SIN[0]["scheduled_arrival"]) + D + 19 * H).isoformat()}),
        BOOK).entitlements if e.rule == "eu261.rerouting_compensation")


def test_finnair_not_again_under_three_hours_nor_for_an_extraordinary_cause_and_halved_from_three_to_four():
    assert finnair(2 * H + 59 * M) == {"eu261.compensation": [Decimal(600)]}
    assert finnair(19 * H, cause="weather") == {"eu261.compensation": [Decimal(600)]}
    assert finnair(3 * H + 30 * M)["eu261.rerouting_compensation"] == [Decimal(300)]


def test_finnair_the_re_routings_delay_is_owed_for_even_when_the_flight_lost_was_not():
    assert finnair(19 * H, first_cause="weather") == {"eu261.rerouting_compensation": [Decimal(600)]}


# EU261 Art. 3(3) (Regulation (EC) No 261/2004, eur-lex.europa.eu CELEX 32004R0261): "This Regulation
# shall not apply to passengers travelling free of charge or at a reduced fare not available
# directly or indirectly to the public. However, it shall apply to passengers having tickets issued
# under a frequent flyer programme or other commercial programme by an air carrier or tour
# operator." UK261 keeps the same words.
FRA_LHR = [leg("LH 900", "FRA", "LHR", "2025-03-10T10:00:00+01:00", 1.75)]


@pytest.mark.parametrize(("fare", "offered", "covered"), [
    ("500", "public", True), ("0", "programme", True), ("45", "programme", True),
    ("0", "public", False), ("60", "not_public", False), ("0", "not_public", False)])
def test_art_3_3_free_or_staff_fares_are_outside_the_regulation_award_tickets_inside(fare, offered, covered):
    c = case(FRA_LHR, late=4 * H, fare=fare, extra_fare={"offered": offered})
    got = owed(c)
    assert (("EU261", "compensation") in got) is covered
    assert (("EU261", "meal") in got) is covered


# YE and Others v Vueling, C-686/20 (order of 11 October 2021; eur-lex.europa.eu CELEX 62020CB0686):
# the condition of availability to the public in Art. 3(3) does not concern passengers travelling
# free; a child travelling free because of their age, with no seat or boarding pass of their own,
# is outside the Regulation. An infant for whom a supplement was paid is not travelling free: the
# Østre Landsret (Denmark) awarded such infants compensation like their parents (judgments of
# 4 April 2023, as reported at flyadvokaten.dk, "Infants are also entitled to compensation").
@pytest.mark.parametrize(("fare", "covered"), [("0", False), ("53.40", True)])
def test_vueling_an_infant_on_a_lap_is_outside_when_free_inside_when_a_fare_was_paid(fare, covered):
    infant = case(FRA_LHR, late=4 * H, fare=fare, passenger={"id": "INF1"})
    assert (("EU261", "compensation") in owed(infant)) is covered


# Laudamotion and Ryanair, C-54/23 (25 January 2024; as reported at transportwatch.eu and jklaw.pl):
# told the Düsseldorf–Palma flight of 31 October 2019 would leave six hours late, the passenger
# booked another flight himself and arrived less than three hours after the original schedule: no
# compensation. The delay is the one at the final destination, however the passenger got there.
DUS_PMI_2019 = [leg("OE 112", "DUS", "PMI", "2019-10-31T06:00:00+01:00", 2.25)]


@pytest.mark.parametrize(("late", "owed_eur"), [(2 * H + 40 * M, None), (3 * H + 10 * M, 250)])
def test_laudamotion_a_self_booked_flight_is_judged_by_when_it_arrived(late, owed_eur):
    c = case(DUS_PMI_2019, late=late, presented=False, disruption={"self_booked": True})
    got = owed(c)
    assert got.get(("EU261", "compensation")) == (Decimal(owed_eur) if owed_eur else None)
    assert ("EU261", "meal") not in got  # care is for passengers who wait; this one made his own way


# Hembesler and Condor, C-650/23 and C-705/23 (17 October 2024; ecc.fi, "Rulings of the Court of
# Justice"): the tour operator told package-tour passengers, without telling Condor, that their
# flight would not be performed and moved them to another; the flight went as planned. The operating
# carrier owes Art. 7 compensation for denied boarding (and may seek redress from the tour operator).
def test_hembesler_a_tour_operators_wrong_notice_is_denied_boarding_by_the_carrier():
    c = case(MAD_FRA, "denied_boarding", "commercial", notice=3 * D, presented=False,
             disruption={"denied_in_advance": True, "told_by": "tour_operator"})
    [e] = [e for e in engine.evaluate(c, BOOK).entitlements if e.kind == "compensation"]
    assert (e.regime, e.amount) == ("EU261", Decimal(250)) and "C-650/23" in e.source
