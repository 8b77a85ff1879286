"""Where the CPU goes while the replay runs: each process's time, read from /proc (Rebound's
processes, the sandbox providers, Kafka and PostgreSQL), and PostgreSQL's busiest statements.

`/proc/<pid>/stat` holds a process's user and system time in clock ticks (proc(5), fields 14 and
15); a parent's fields 16 and 17 hold what its waited-for children spent. PostgreSQL runs a
process per connection, which comes and goes: its CPU is every live `postgres` process's own time
plus the postmaster's reaped children's."""

import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    pid: int
    parent: int
    name: str
    own_s: float  # utime + stime
    children_s: float  # cutime + cstime: children waited for


def stat(pid: int) -> Stat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may itself hold spaces or parentheses.
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): field n is fields[n - 3].
    return Stat(pid, int(fields[1]), name, (int(fields[11]) + int(fields[12])) * TICK_S,
                (int(fields[13]) + int(fields[14])) * TICK_S)


def _all() -> list[Stat]:
    return [s for p in os.listdir("/proc") if p.isdigit() and (s := stat(int(p)))]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def postgres_s(stats: list[Stat]) -> float:
    mine = [s for s in stats if s.name == "postgres"]
    pids = {s.pid for s in mine}
    # The postmaster: the postgres process whose parent is not one.
    return sum(s.own_s for s in mine) + sum(s.children_s for s in mine if s.parent not in pids)


def kafka_s(stats: list[Stat]) -> float:
    return sum(s.own_s for s in stats if s.name == "java" and " kafka.Kafka " in _cmdline(s.pid))


def failover_s(stats: list[Stat]) -> float:
    """What keeps a PostgreSQL cluster's leader elected: Patroni's processes and etcd's (none on a
    single server)."""
    return sum(s.own_s for s in stats if s.name == "etcd" or (s.name.startswith(("python", "patroni"))
                                                               and "/patroni " in _cmdline(s.pid)))


def snapshot(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process (and its children waited for), of Kafka, of
    PostgreSQL (every node's), and of Patroni and etcd."""
    stats = _all()
    by_pid = {s.pid: s for s in stats}
    spent = {name: (by_pid[pid].own_s + by_pid[pid].children_s) if pid in by_pid else 0.0
             for name, pid in processes.items()}
    return spent | {"kafka": kafka_s(stats), "postgresql": postgres_s(stats), "patroni_etcd": failover_s(stats)}


def per_passenger(before: dict[str, float], after: dict[str, float], passengers: int,
                  sandbox: frozenset[str]) -> dict:
    """Milliseconds of CPU per affected passenger, per process, with Rebound's own processes, the
    sandbox providers (stand-ins for other companies' machines) and the engines reported apart."""
    ms = {name: round((after[name] - before.get(name, 0.0)) * 1000 / max(passengers, 1), 3) for name in after}
    engines = {"kafka", "postgresql", "patroni_etcd"}
    rebound = {n: v for n, v in ms.items() if n not in sandbox and n not in engines}
    return {"rebound": rebound, "rebound_total": round(sum(rebound.values()), 3),
            "sandbox": {n: v for n, v in ms.items() if n in sandbox},
            "engines": {n: ms[n] for n in sorted(engines)},
            "cpu_s": {n: round(after[n] - before.get(n, 0.0), 1) for n in after}}


async def statements(database_url: str) -> dict[tuple[int, int], tuple[str, int, float, int]] | None:
    """PostgreSQL's statement statistics (pg_stat_statements), per (role, statement): its text,
    calls, milliseconds executing and rows; None where the extension is not loaded."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT userid, queryid, query, calls, total_exec_time, rows FROM pg_stat_statements"
                                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()
    return {(r["userid"], r["queryid"]): (r["query"], r["calls"], r["total_exec_time"], r["rows"]) for r in rows}


def busiest(before: dict | None, after: dict | None, passengers: int, top: int = 12) -> dict | None:
    """The statements that took the database's time while the replay ran, the busiest first."""
    if before is None or after is None:
        return None
    spent = []
    for key, (query, calls, ms, rows) in after.items():
        _, calls0, ms0, rows0 = before.get(key, ("", 0, 0.0, 0))
        if calls > calls0:
            spent.append({"statement": " ".join(query.split())[:160], "calls": calls - calls0,
                          "ms": round(ms - ms0), "rows": rows - rows0})
    spent.sort(key=lambda s: -s["ms"])
    total = sum(s["ms"] for s in spent)
    return {"executing_ms": total, "calls": sum(s["calls"] for s in spent),
            "calls_per_passenger": round(sum(s["calls"] for s in spent) / max(passengers, 1), 1),
            "busiest": spent[:top]}


async def first_notice_stages(database_url: str) -> dict[str, dict[str, float]]:
    """Where a first notice's time went, in seconds: from the event's acceptance to notify's plan
    of the delivery (disruption, Kafka, notify's consumer), then to the provider's acceptance
    (notify's sending)."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            """SELECT percentile_cont(ARRAY[0.5, 0.99])
                        WITHIN GROUP (ORDER BY extract(epoch FROM created_at - occurred_at)) AS planned,
                      percentile_cont(ARRAY[0.5, 0.99])
                        WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) AS sending
               FROM notify.deliveries WHERE stage = 'first_notice' AND status = 'sent' AND fallback_of IS NULL""")
    finally:
        await conn.close()
    return {stage: {"p50": round(row[stage][0], 2), "p99": round(row[stage][1], 2)}
            for stage in ("planned", "sending") if row[stage]}


def peak_memory_mb(processes: dict[str, int]) -> dict[str, float]:
    """The most resident memory each named process has held (VmHWM in /proc/<pid>/status, proc(5)):
    what a container's memory request must cover."""
    peaks = {}
    for name, pid in processes.items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
        if kib is not None:
            peaks[name] = round(kib / 1024, 1)
    return peaks
