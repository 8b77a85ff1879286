"""The README's picture of the ops console: opened in Debian's Chromium (driven by Playwright) on a
running demo, once its KPIs are live and the worklist has cases, and saved as a PNG.

    make demo   # in one terminal; then, mid-storm:
    .venv/bin/python -m docs.console_screenshot --out docs/ops-console.png"""

import argparse
import asyncio
import shutil

from playwright.async_api import async_playwright

# What this machine's closed network needs (tests/integration/conftest.py says why).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def shoot(url: str, key: str, out: str, width: int, height: int) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": width, "height": height})
            await page.goto(f"{url}/ops")
            await page.get_by_label("Ops token").fill(key)
            await page.get_by_role("button", name="Show board").click()
            await page.locator("#live").filter(has_text="live").wait_for()
            await page.locator("#worklist tbody tr").first.wait_for(timeout=120_000)
            await page.locator("#flights tbody tr").first.click()
            await page.locator("#detail-passengers tr").first.wait_for()
            await page.locator("#worklist tbody tr").first.click()
            await page.locator("#case-options").filter(has_text="·").or_(
                page.locator("#case-options").filter(has_text="No itinerary")).first.wait_for(timeout=30_000)
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=out, full_page=False)
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--key", default="dev-only-key")
    parser.add_argument("--out", default="docs/ops-console.png")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(shoot(args.url, args.key, args.out, args.width, args.height))


if __name__ == "__main__":
    main()
