"""A PostgreSQL cluster as the fault harness sees it: Patroni's REST API says who leads, on which
timeline, and whether every node is back; the services' /readyz say whether they reach the primary.
The faults themselves are deploy/local/infra.sh's (postgres-cluster.sh)."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

Members = list[dict[str, Any]]


class Patroni:
    """The cluster's members, from whichever node's REST API answers (`GET /cluster`)."""

    def __init__(self, endpoints: list[str]) -> None:
        self._endpoints = endpoints

    async def members(self) -> Members:
        async with httpx.AsyncClient(timeout=2) as client:
            for endpoint in self._endpoints:
                try:
                    response = await client.get(f"{endpoint}/cluster")
                    if response.status_code == 200:
                        members: Members = response.json()["members"]
                        return members
                except (httpx.HTTPError, ValueError, KeyError):
                    continue  # that node is the one gone
        return []

    async def leader(self) -> dict[str, Any] | None:
        """The running primary (None: no node is one now)."""
        return leading(await self.members())

    async def until(self, holds: Callable[[Members], bool], limit_s: float) -> float | None:
        """Seconds until the members are as `holds` says (None: not within the limit)."""
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            if holds(await self.members()):
                return round(time.monotonic() - started, 2)
            await asyncio.sleep(0.1)
        return None


def leading(members: Members) -> dict[str, Any] | None:
    return next((m for m in members if m.get("role") == "leader" and m.get("state") == "running"), None)


def node_of(member: dict[str, Any]) -> int:
    """The node's number: Patroni's member name is pg<N> (postgres-cluster.sh)."""
    return int(str(member["name"]).removeprefix("pg"))


def promoted_after(timeline: int) -> Callable[[Members], bool]:
    """A primary taking writes on a timeline after `timeline`: a failover or switchover done."""
    def holds(members: Members) -> bool:
        leader = leading(members)
        return leader is not None and int(leader.get("timeline") or 0) > timeline
    return holds


def whole(nodes: int) -> Callable[[Members], bool]:
    """Every node running: one primary, the others replicas on its timeline and streaming from it
    (Patroni reports a lag only for a replica that is)."""
    def holds(members: Members) -> bool:
        leader = leading(members)
        if leader is None or len(members) != nodes:
            return False
        replicas = [m for m in members if m is not leader]
        return all(m.get("state") == "running" and m.get("timeline") == leader.get("timeline")
                   and isinstance(m.get("lag"), int) for m in replicas)
    return holds


async def all_ready(processes: Callable[[], dict[str, tuple[int, str]]], limit_s: float) -> float | None:
    """Seconds until every service process answers /readyz with 200 (None: not within the limit).
    `processes` gives each one's pid and URL, asked each time: a process another lane restarts
    meanwhile is left out from then on, since its readiness says nothing about this fault."""
    started, first = time.monotonic(), processes()
    waiting = set(first)
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() - started < limit_s:
            now = processes()
            waiting = {name for name in waiting if now.get(name, (None,))[0] == first[name][0]}
            for name in sorted(waiting):
                try:
                    if (await client.get(f"{now[name][1]}/readyz")).status_code == 200:
                        waiting.discard(name)
                except httpx.HTTPError:
                    pass  # killed just now: left out at the next look
            if not waiting:
                return round(time.monotonic() - started, 2)
            await asyncio.sleep(0.1)
    return None
