"""What-if plans on the real stack (four services as processes, real Kafka and PostgreSQL): a plan
previewed with a planner's key, saved, refused to the wrong keys and to bad input, applied by an
agent through the same flight-events topic as a partner's events, and the real recovery set beside
the preview; and the console, in Chromium, doing the same."""

import json
from collections import Counter
from datetime import date
from decimal import Decimal

import asyncpg
import httpx
import pytest
from playwright.async_api import expect

from bench import small_scenario
from shared.events import FlightDeparted, FlightRef
from tests.integration.conftest import AGENT, AGENT_KEY, API_KEY, PLANNER, PLANNER_KEY, VIEWER_KEY, eventually

pytestmark = pytest.mark.integration


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def loaded(stack, settings, run: int, day: date) -> small_scenario.Scenario:
    scenario = small_scenario.build(run=run, day=day)
    await small_scenario.load(settings, scenario, stack.url("notify"), API_KEY)
    await small_scenario.wait_until_loaded(settings.database_url, scenario)
    return scenario


def cancel(scenario: small_scenario.Scenario, name: str = "") -> dict:
    return {"name": name, "changes": [{"action": "cancel", "flights": [scenario.cancellation_flight_id],
                                       "cause": "weather"}]}


async def test_a_plan_applied_recovers_as_previewed(stack, settings):
    scenario = await loaded(stack, settings, run=8, day=date(2013, 2, 18))
    async with httpx.AsyncClient(base_url=stack.url("disruption"), timeout=60) as client:
        # Previewing is a planner's job: a viewer's key may not, and no key is refused first.
        assert (await client.post("/v1/what-if", json=cancel(scenario))).status_code == 401
        refused = await client.post("/v1/what-if", json=cancel(scenario), headers=bearer(VIEWER_KEY))
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
        answer = await client.post("/v1/what-if", json=cancel(scenario), headers=bearer(PLANNER_KEY))
        assert answer.status_code == 200, answer.text
        preview = answer.json()
        assert preview["missing"] == []
        hit = len(scenario.disrupted_passengers)
        assert preview["hit"]["passengers"] == hit and preview["hit"]["flights"] == 1
        rebooking = preview["rebooking"]
        assert rebooking["rebooked"] + rebooking["refunded"] + rebooking["needs_agent"] == hit
        assert sum(preview["notices"]["by_language"].values()) + preview["notices"]["unreachable"] == hit
        # Nothing happened: nobody disrupted, nothing on the topics' tables.
        conn = await asyncpg.connect(settings.database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM disruption.recovery WHERE flight_id = $1",
                                       scenario.cancellation_flight_id) == 0
            assert await conn.fetchval("SELECT status FROM disruption.flights WHERE flight_id = $1",
                                       scenario.cancellation_flight_id) == "scheduled"
        finally:
            await conn.close()

        saved = await client.post("/v1/what-if/plans", json=cancel(scenario, "Cancel the 07:00 to Boston"),
                                  headers=bearer(PLANNER_KEY))
        assert saved.status_code == 201
        plan_id = saved.json()["plan_id"]
        listed = (await client.get("/v1/what-if/plans", headers=bearer(PLANNER_KEY))).json()["plans"]
        assert any(p["plan_id"] == plan_id and p["saved_by"] == PLANNER for p in listed)

        # Applying is an agent's: a planner may preview and save, not act.
        why = {"why": "Blizzard closes Boston from 07:00", "confirm": True}
        key = {"Idempotency-Key": f"apply-{plan_id}"}
        assert (await client.post(f"/v1/what-if/plans/{plan_id}/apply", json=why,
                                  headers=bearer(PLANNER_KEY) | key)).status_code == 403
        applied = await client.post(f"/v1/what-if/plans/{plan_id}/apply", json=why, headers=bearer(AGENT_KEY) | key)
        assert applied.status_code == 200, applied.text
        assert applied.json()["events"] == 1
        again = await client.post(f"/v1/what-if/plans/{plan_id}/apply", json=why, headers=bearer(AGENT_KEY) | key)
        assert again.json() == applied.json(), "the same key is the same action, done once"
        twice = await client.post(f"/v1/what-if/plans/{plan_id}/apply", json=why,
                                  headers=bearer(AGENT_KEY) | {"Idempotency-Key": f"again-{plan_id}"})
        assert twice.status_code == 409

        await small_scenario.wait_until_settled(settings.database_url, scenario)

        async def decided() -> dict | None:
            found = (await client.get(f"/v1/what-if/plans/{plan_id}", headers=bearer(PLANNER_KEY))).json()
            real = found["outcome"]
            return found if real["decided"] == hit and (real["money"] or not preview["money"]) else None
        plan = await eventually(decided, within_seconds=60)
        assert plan, "every passenger of the applied plan has an outcome"
        real = plan["outcome"]
        # The preview, beside what really happened: the same passengers, the same outcomes.
        assert real["passengers"] == preview["hit"]["passengers"]
        assert real["rebooked"] == rebooking["rebooked"]
        assert real["refunded"] == rebooking["refunded"]
        assert real["needs_agent"] == rebooking["needs_agent"]
        owed_real = {(m["currency"], m["kind"]): Decimal(m["amount"]) for m in real["money"]}
        owed_preview: Counter = Counter()
        for c in preview["money"]["by_currency"]:
            owed_preview[(c["currency"], "refund")] += Decimal(c["refund"])
            owed_preview[(c["currency"], "compensation")] += sum((Decimal(v) for v in c["compensation"].values()),
                                                                 Decimal(0))
        assert owed_real == {k: v for k, v in owed_preview.items() if v}
        # The audit: who applied it and why.
        board = await client.get(f"/ops/api/flights/{scenario.cancellation_flight_id}", headers=bearer(AGENT_KEY))
        assert board.json()["flight"]["status"] == "cancelled"
        conn = await asyncpg.connect(settings.database_url)
        try:
            audit = await conn.fetchrow("SELECT agent, why FROM disruption.desk_actions WHERE target = $1", plan_id)
        finally:
            await conn.close()
        assert (audit["agent"], audit["why"]) == (AGENT, why["why"])


async def test_bad_plans_are_refused_with_what_is_wrong(stack, settings):
    scenario = await loaded(stack, settings, run=10, day=date(2013, 2, 22))
    flight = scenario.flights[1]
    async with httpx.AsyncClient(base_url=stack.url("disruption"), timeout=60) as client:
        async def asked(plan: dict) -> httpx.Response:
            return await client.post("/v1/what-if", json=plan, headers=bearer(PLANNER_KEY))
        unknown = await asked({"changes": [{"action": "cancel", "flights": ["B69999/2013-02-22/JFK"]}]})
        assert unknown.status_code == 422 and "B69999/2013-02-22/JFK" in unknown.json()["title"]
        assert unknown.headers["content-type"] == "application/problem+json"
        too_many = await asked({"changes": [{"action": "cancel",
                                             "flights": [f"B6{n}/2013-02-22/JFK" for n in range(1, 502)]}]})
        assert too_many.status_code == 422 and "500" in json.dumps(too_many.json())
        typo = await asked({"changes": [{"action": "cancel", "flight": [flight.flight_id]}]})
        assert typo.status_code == 422
        backwards = await asked({"changes": [{"action": "retime", "flight": flight.flight_id,
                                              "departure": "2013-02-22T15:00:00Z", "arrival": "2013-02-22T14:00:00Z"}]})
        assert backwards.status_code == 422
        # A flight that has left is history: no plan changes it.
        ref = FlightRef(carrier=flight.carrier, number=flight.number, departure_date=date(2013, 2, 22),
                        origin=flight.origin)
        departed = FlightDeparted(partner_event_id=f"off-{flight.flight_id}", flight=ref,
                                  actual_departure=flight.scheduled_departure)
        sent = await small_scenario.submit(stack.url("disruption"), departed.model_dump_json().encode())
        assert sent.status_code == 202

        async def gone() -> httpx.Response | None:
            answer = await asked({"changes": [{"action": "delay", "flights": [flight.flight_id], "minutes": 60}]})
            return answer if answer.status_code == 409 else None
        refused = await eventually(gone)
        assert refused is not None and "departed" in refused.json()["title"]


async def test_the_console_compares_two_plans_and_applies_one(stack, settings, browser_page):
    scenario = await loaded(stack, settings, run=12, day=date(2013, 2, 24))
    hit = len(scenario.disrupted_passengers)
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"{stack.url('disruption')}/ops")
    await page.get_by_label("Ops token").fill(AGENT_KEY)
    await page.get_by_role("button", name="Show board").click()

    async def plan(name: str, action: str, minutes: int | None = None) -> None:
        await page.get_by_label("Plan name").fill(name)
        await page.get_by_label("Change", exact=True).select_option(action)
        await page.get_by_label("Flights in the plan").fill(scenario.cancellation_flight_id)
        if minutes:
            await page.get_by_label("Minutes").fill(str(minutes))
        await page.get_by_role("button", name="Add this change").click()
        await page.get_by_role("button", name="Preview and save the plan").click()
        await expect(page.locator("#plan-result")).to_contain_text(f"{hit} passengers hit", timeout=30_000)
        await page.get_by_role("button", name="Start a new plan").click()

    await plan("Cancel it", "cancel")
    await plan("Delay it 3 h", "delay", 180)
    compare = page.locator("#compare")

    def row(label: str):
        return compare.locator("tr").filter(has=page.get_by_role("rowheader", name=label, exact=True))
    await expect(compare.locator("thead th")).to_have_count(3)
    await expect(row("Rebooked").locator("td.diff")).to_have_count(1)  # the delay rebooks nobody: all keep the flight
    await expect(row("Keep their flight").locator("td").nth(1)).to_have_text(str(hit))
    # Shared by link: the same comparison opens from the address.
    link = page.url
    assert "compare=" in link

    await page.get_by_label("Why apply").fill("Ground stop at Boston: cancel rather than hold")
    await page.get_by_role("button", name="Apply Cancel it").click()
    await expect(page.locator("#apply-result")).to_contain_text("Applied: 1 flight events sent")
    await expect(row("Real: passengers hit").locator("td").first).to_have_text(str(hit), timeout=30_000)
    await expect(row("Real: told").locator("td").first).not_to_have_text("0", timeout=30_000)
    await expect(page.locator("#flights tbody tr", has_text=f"B6 {scenario.flights[0].number}")).to_have_count(
        1, timeout=30_000)
    text = await page.content()
    assert "@example.com" not in text and "+1212555" not in text
