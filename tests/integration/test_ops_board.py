"""The ops board in a real browser (Debian's Chromium, driven by Playwright): a cancellation
shows up live, with its passengers' recovery."""

from datetime import date

import httpx
import pytest
from playwright.async_api import expect

from bench import small_scenario
from tests.integration.conftest import API_KEY

pytestmark = pytest.mark.integration



async def test_the_ops_api_needs_a_token(stack):
    async with httpx.AsyncClient(base_url=stack.url("disruption")) as client:
        refused = await client.get("/ops/api/flights")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        allowed = await client.get("/ops/api/flights", headers={"Authorization": f"Bearer {API_KEY}"})
        assert allowed.status_code == 200


async def test_the_board_shows_a_cancellation_live(stack, settings, browser_page):
    # Days after the other tests' flights, so their alternatives never mix.
    scenario = small_scenario.build(run=4, day=date(2013, 2, 14))
    await small_scenario.load(settings, scenario, stack.url("notify"), API_KEY)
    await small_scenario.wait_until_loaded(settings.database_url, scenario)
    cancelled = scenario.flights[0]
    label = f"B6 {cancelled.number}"

    page = browser_page
    await page.goto(f"{stack.url('disruption')}/ops")
    await page.get_by_label("Ops token").fill(API_KEY)
    await page.get_by_role("button", name="Show board").click()
    await expect(page.locator("#live")).to_contain_text("live")
    row = page.locator("#flights tbody tr", has_text=label)
    await expect(row).to_have_count(0)

    # The board is open; the cancellation arrives; the page shows it without a reload.
    await small_scenario.cancel(stack.url("disruption"), scenario.cancellation)
    await expect(row.locator("td.status")).to_have_text("cancelled", timeout=15_000)
    passengers = str(len(scenario.disrupted_passengers))
    cells = row.locator("td")
    await expect(cells.nth(5)).to_have_text(passengers)                    # affected
    await expect(cells.nth(6)).to_have_text(passengers, timeout=20_000)    # notified
    rows = await small_scenario.wait_until_settled(settings.database_url, scenario)
    rebooked = sum(r["outcome"] == "rebooked" for r in rows)
    refunded = sum(any(g.startswith("refund") for g in r["grants"] or []) for r in rows)
    await expect(cells.nth(7)).to_have_text(str(rebooked), timeout=10_000)
    await expect(cells.nth(8)).to_have_text(str(refunded), timeout=10_000)

    await row.click()
    await expect(page.locator("#detail-title")).to_contain_text(f"{label} JFK→BOS")
    listed = page.locator("#detail-passengers tr")
    await expect(listed).to_have_count(len(scenario.disrupted_passengers))
    first = scenario.bookings[0]
    await expect(listed.filter(has_text=first.booking_ref).first).to_contain_text(
        first.passengers[0].name)
    await expect(page.locator("#detail-history")).to_contain_text("cancelled (weather)")
    page_text = await page.content()
    assert "@example.com" not in page_text and "+1212555" not in page_text

