"""Passengers answering their texts during the demo, through the sandbox's phone (the providers'
own inbound formats, signed as they sign them), so the console's conversations fill as the storm
does: now and then a rebooked passenger asks for other flights and takes the first, keeps the new
flight, or writes a sentence for a person. A few, never many: the day's outcomes are the replay's."""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import httpx

# What the demo's passengers write, in turn: a choice, or words for a person.
SCRIPT = [
    ["CHANGE", "1"],
    ["My daughter is 15 and flying alone on the new flight: can someone walk her to the gate?"],
    ["KEEP"],
    ["I use a wheelchair. Will there be assistance at the connection?"],
    ["Ma valise est déjà enregistrée : suivra-t-elle sur le nouveau vol ?"],
]


async def answer_now_and_then(sandbox: str, stop: asyncio.Event, every_s: float = 20.0, most: int = 15,
                              seed: int = 2013) -> int:
    """Until `stop`, every `every_s` seconds one rebooked passenger not yet heard from answers their
    text, at most `most` in all; how many answered."""
    rng, answered, read = random.Random(seed), 0, 0
    offered: set[str] = set()  # numbers told of a new flight, not yet heard from
    async with httpx.AsyncClient(base_url=sandbox, timeout=30) as phone:
        while answered < most and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every_s)
                break
            except TimeoutError:
                pass
            try:
                texts = (await phone.get("/v1/sms", params={"since": read})).json()  # only what is new
            except httpx.HTTPError:
                continue
            read += len(texts)
            offered |= {t["to"] for t in texts if "Reply KEEP, CHANGE or REFUND" in t.get("body", "")}
            if not offered:
                continue
            number = rng.choice(sorted(offered))
            offered.discard(number)
            for text in SCRIPT[answered % len(SCRIPT)]:
                await phone.post("/v1/phone/reply", json={"from": number, "text": text})
                await asyncio.sleep(2)  # a person reads the answer before writing again
            answered += 1
    return answered


@contextlib.asynccontextmanager
async def during_demo(sandbox: str, *, demo: bool) -> AsyncIterator[None]:
    """Passengers answering now and then while the block runs, if it is the demo; then how many
    did, said on screen."""
    if not demo:
        yield
        return
    stop = asyncio.Event()
    replying = asyncio.create_task(answer_now_and_then(sandbox, stop))
    try:
        yield
    finally:
        stop.set()
        print(f"{await replying} passengers answered their texts (the console's Passengers' messages)", flush=True)
