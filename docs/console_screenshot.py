"""The README's pictures of the ops console: opened in Debian's Chromium (driven by Playwright) on a
running demo, once its KPIs are live and the worklist has cases, and saved as a PNG; its what-if
comparison, two plans built in the page (cancel the given flights, or delay them three hours); and a
passenger's conversation, two rebooked passengers answering their texts through the sandbox's
phone (one asks for other flights and takes one, one writes a sentence an agent answers).

    make demo   # in one terminal; then, mid-storm:
    .venv/bin/python -m docs.console_screenshot --out docs/ops-console.png
    .venv/bin/python -m docs.console_screenshot --what-if B6…/2013-02-08/JFK,… --out docs/what-if.png
    make demo-small && .venv/bin/python -m docs.console_screenshot --conversation --out docs/conversation.png"""

import argparse
import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

import httpx
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


async def shoot_conversation(url: str, key: str, out: str, width: int, height: int, sandbox: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox, timeout=30) as phone:
        texts = (await phone.get("/v1/sms")).json()
        numbers = list(dict.fromkeys(t["to"] for t in texts if "Reply KEEP, CHANGE or REFUND" in t["body"]))
        if len(numbers) < 2:
            raise SystemExit("no two rebooked passengers have been texted yet: run `make demo-small` first")
        for number, text in ((numbers[0], "CHANGE"), (numbers[0], "1"), (numbers[1], WRITTEN)):
            await phone.post("/v1/phone/reply", json={"from": number, "text": text})
            await asyncio.sleep(1)  # a person's pace: each answer is read before the next is written
    async with console(url, key, width, height) as page:
        await page.locator("#threads tbody tr").filter(has_text="walk her").first.click()
        await page.get_by_label("Your answer").fill(ANSWER)
        await page.get_by_role("button", name="Send answer").click()
        await page.locator("#thread-result.ok").wait_for(timeout=30_000)
        await page.locator("#thread").scroll_into_view_if_needed()
        await page.screenshot(path=out, full_page=False)


WRITTEN = "My daughter is 15 and flying alone on the new flight: can someone walk her to the gate?"
ANSWER = "Yes: an agent will meet her at the transfer desk by gate B12 and walk her to the plane."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--key", default="dev-only-key")
    parser.add_argument("--out", default="docs/ops-console.png")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--what-if", default="", help="comma-separated flight ids: the what-if comparison instead")
    parser.add_argument("--conversation", action="store_true", help="a passenger's conversation instead")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8090", help="the sandbox providers")
    args = parser.parse_args()
    if args.conversation:
        asyncio.run(shoot_conversation(args.url, args.key, args.out, args.width, args.height, args.sandbox))
    elif args.what_if:
        asyncio.run(shoot_what_if(args.url, args.key, args.out, args.width, args.height, args.what_if.split(",")))
    else:
        asyncio.run(shoot(args.url, args.key, args.out, args.width, args.height))


if __name__ == "__main__":
    main()
