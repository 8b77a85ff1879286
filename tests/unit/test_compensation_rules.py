from decimal import Decimal

from services.compensation.domain import Case, PassengerFare, entitlements_for

PARTY = [PassengerFare("P1", Decimal("250"), "USD"), PassengerFare("P2", Decimal("180"), "USD")]


def kinds(case: Case) -> list[tuple[str, str, Decimal]]:
    return [(e.passenger_id, e.kind, e.amount) for e in entitlements_for(case)]


def test_no_alternative_refunds_each_fare_in_full():
    case = Case("cancelled", 0, "no_alternative", None, PARTY, refund_due=True)
    assert kinds(case) == [("P1", "refund", Decimal("250")), ("P2", "refund", Decimal("180"))]
    assert all("14 CFR 260" in e.source for e in entitlements_for(case))


def test_rebooked_three_hours_later_gets_a_meal_voucher():
    assert kinds(Case("cancelled", 0, "rebooked", 180, PARTY)) == [
        ("P1", "meal_voucher", Decimal("15.00")), ("P2", "meal_voucher", Decimal("15.00"))]


def test_rebooked_soon_after_is_owed_nothing_here():
    assert kinds(Case("cancelled", 0, "rebooked", 150, PARTY)) == []


def test_long_delay_gets_a_meal_voucher_and_short_one_does_not():
    assert len(kinds(Case("delayed", 200, "kept", 200, PARTY))) == 2
    assert kinds(Case("delayed", 90, "kept", 90, PARTY)) == []


def test_a_refund_asked_for_instead_of_the_new_flight_is_paid_and_no_voucher_with_it():
    case = Case("cancelled", 0, "refund_requested", None, PARTY, refund_due=True)
    assert kinds(case) == [("P1", "refund", Decimal("250")), ("P2", "refund", Decimal("180"))]


def test_accepting_the_new_flight_keeps_the_voucher_its_delay_earns():
    assert len(kinds(Case("cancelled", 0, "accepted", 240, PARTY))) == 2
