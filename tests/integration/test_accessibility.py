"""The pages people use meet WCAG 2.2 AA (https://www.w3.org/TR/WCAG22/), checked in Chromium:
Deque's axe-core finds no violation of the A and AA rules on the choice page (in each language
and each state) or the ops console (with a passenger's message open); the choice page is used by
keyboard alone; and both reflow (1.4.10) at 320 CSS pixels wide, which is a 1280-pixel window at
400 % zoom, and read at 200 % (1.4.4)."""

from datetime import date

import pytest
from playwright.async_api import Page, expect

from tests.integration.conftest import AGENT_KEY, accessibility_violations
from tests.integration.test_conversations import put_contacts, reply
from tests.integration.test_rebooking import rebooked

pytestmark = pytest.mark.integration


async def reflows(page: Page) -> bool:
    """Nothing wider than the window but what scrolls in its own box (a data table may: 1.4.10
    exempts content that needs two dimensions)."""
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_the_choice_page_has_no_wcag_violation_in_any_language_or_state(stack, settings, browser_page):
    db, urls, soon, later = await rebooked(stack, settings, "AX", date(2013, 3, 25))
    await db.close()
    page = browser_page
    for lang in ("en", "es", "fr", "de"):
        await page.goto(f"{urls['0001']}?lang={lang}")
        assert await page.get_attribute("html", "lang") == lang
        assert await accessibility_violations(page) == [], lang
    await page.set_viewport_size({"width": 320, "height": 640})
    await page.goto(urls["0001"])
    assert await reflows(page)
    await page.set_viewport_size({"width": 640, "height": 400})  # a 1280-pixel window at 200 %
    assert await reflows(page)

    # By keyboard alone: Tab to the first action, Enter.
    await page.goto(urls["0002"])
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Keep this flight"
    await page.keyboard.press("Enter")
    await expect(page.locator("#answer")).to_contain_text("you're booked on")
    assert await accessibility_violations(page) == []  # the answered state
    await page.goto(urls["0003"].rsplit("/", 1)[0] + "/not-a-token")
    assert await accessibility_violations(page) == []  # a link not ours: the problem state


async def test_the_ops_console_has_no_wcag_violation_with_a_message_open(stack, browser_page):
    await put_contacts(stack, [{"passenger_id": "AXE001-0", "booking_ref": "AXE001", "given_name": "Noor",
                                "phone": "+12125550181", "channels": ["sms"]}])
    await reply(stack, "+12125550181", "Can I bring my guide dog on the new flight?")
    page = browser_page
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{stack.url('disruption')}/ops")
    assert await accessibility_violations(page) == []  # before a key is given
    await page.get_by_label("Ops token").fill(AGENT_KEY)
    await page.get_by_role("button", name="Show board").click()
    row = page.locator("#threads tbody tr", has_text="AXE001")
    await expect(row).to_be_visible(timeout=30_000)
    await row.click()
    await expect(page.locator("#thread-messages")).to_contain_text("guide dog")
    assert await accessibility_violations(page) == []
    await page.set_viewport_size({"width": 320, "height": 640})
    assert await reflows(page)
