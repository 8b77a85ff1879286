"""The README's pictures of the ops console: opened in Debian's Chromium (driven by Playwright) on a
running demo, once its KPIs are live and the worklist has cases, and saved as a PNG; and its what-if
comparison, two plans built in the page (cancel the given flights, or delay them three hours).

    make demo   # in one terminal; then, mid-storm:
    .venv/bin/python -m docs.console_screenshot --out docs/ops-console.png
    .venv/bin/python -m docs.console_screenshot --what-if B6…/2013-02-08/JFK,… --out docs/what-if.png"""

import argparse
import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

from playwright.async_api import Page, async_playwright

# What this machine's closed network needs (tests/integration/conftest.py says why).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.asynccontextmanager
async def console(url: str, key: str, width: int, height: int) -> AsyncIterator[Page]:
    """The ops console in Chromium, the key given."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": width, "height": height})
            await page.goto(f"{url}/ops")
            await page.get_by_label("Ops token").fill(key)
            await page.get_by_role("button", name="Show board").click()
            yield page
        finally:
            await browser.close()


async def shoot(url: str, key: str, out: str, width: int, height: int) -> None:
    async with console(url, key, width, height) as page:
        await page.locator("#live").filter(has_text="live").wait_for()
        await page.locator("#worklist tbody tr").first.wait_for(timeout=120_000)
        await page.locator("#flights tbody tr").first.click()
        await page.locator("#detail-passengers tr").first.wait_for()
        await page.locator("#worklist tbody tr").first.click()
        await page.locator("#case-options").filter(has_text="·").or_(
            page.locator("#case-options").filter(has_text="No itinerary")).first.wait_for(timeout=30_000)
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=out, full_page=False)


async def shoot_what_if(url: str, key: str, out: str, width: int, height: int, flights: list[str]) -> None:
    async with console(url, key, width, height) as page:
        for name, action in ((f"Cancel the {len(flights)} evening departures", "cancel"),
                             (f"Delay the {len(flights)} evening departures 3 h", "delay")):
            await page.get_by_label("Plan name").fill(name)
            await page.get_by_label("Change", exact=True).select_option(action)
            await page.get_by_label("Cause").select_option("weather")
            await page.get_by_label("Flights in the plan").fill("\n".join(flights))
            await page.get_by_role("button", name="Add this change").click()
            await page.get_by_role("button", name="Preview and save the plan").click()
            await page.locator("#plan-result.ok").wait_for(timeout=120_000)
            await page.get_by_role("button", name="Start a new plan").click()
        await page.locator("#compare thead th").nth(2).wait_for()
        await page.locator("#what-if").screenshot(path=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--key", default="dev-only-key")
    parser.add_argument("--out", default="docs/ops-console.png")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--what-if", default="", help="comma-separated flight ids: the what-if comparison instead")
    args = parser.parse_args()
    if args.what_if:
        asyncio.run(shoot_what_if(args.url, args.key, args.out, args.width, args.height, args.what_if.split(",")))
    else:
        asyncio.run(shoot(args.url, args.key, args.out, args.width, args.height))


if __name__ == "__main__":
    main()
