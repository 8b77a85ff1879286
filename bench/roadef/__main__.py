"""`python -m bench.roadef INSTANCE_DIR --schedule SOL_ROTATIONS_CSV --out OUT_DIR [--reference]`

Re-accommodates the passengers of a ROADEF 2009 instance on a fixed recovered aircraft schedule
with the rebooking service's own solver and the ROADEF profile built from the instance's
config.csv; writes OUT_DIR/sol_itineraries.csv (the official format) and OUT_DIR/summary.json (the
total and each cost term, by this project's checker; the share of the passenger-only bracket
closed; broken passengers re-accommodated; arrival delays; downgrades; solve seconds). With
--reference, the exact MIP of the same problem is solved too and compared.

`python -m bench.roadef --all --out OUT_DIR` runs the 14 instances on their peer schedules and B02
on its original schedule less its cancelled flights (make bench-roadef), and writes the table."""

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.roadef import recovery, reference
from bench.roadef.checker import reference as reference_of
from bench.roadef.checker import score, write_solution
from bench.roadef.instance import (
    InstanceError,
    data_root,
    disrupted_schedule,
    read_instance,
    read_itineraries,
    read_recovered,
)

SET = ("A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A09", "A10", "XA01", "XA02", "XA03", "XA04")


def _bracket(name: str) -> tuple[float, float] | None:
    """The passenger-only bracket on the peer's schedule (scores.json), when the instance has one."""
    path = data_root() / "scores.json"
    values = json.loads(path.read_text())["passenger_only_brackets_on_lemos_schedule"]["values"]
    if name not in values:
        return None
    return values[name]["upper_cancel_broken"]["Total Cost"], values[name]["lower_broken_pax_free"]["Total Cost"]


def _figures(instance: Any, recovered: Any, lines: list, broken: list, seconds: float) -> dict[str, Any]:
    s = score(instance, recovered, lines)
    delays, downgrades = _carried(instance, recovered, lines, broken)
    total = float(s.total)
    figures: dict[str, Any] = {
        "total": round(total, 2), "terms": {k: float(v) for k, v in s.terms.items()},
        "violations": s.violations[:20], "violation_count": len(s.violations),
        "broken_itineraries": len(broken), "broken_passengers": sum(b.itinerary.count for b in broken),
        "reaccommodated_passengers": len(delays),
        "arrival_delay_minutes": {"mean": round(statistics.fmean(delays), 1) if delays else None,
                                  "p90": round(statistics.quantiles(delays, n=10)[-1], 1) if len(delays) > 1 else None},
        "downgraded_passenger_legs": downgrades, "solve_seconds": round(seconds, 3)}
    upper, lower = (float(v) for v in recovery.bracket(instance, recovered, broken))
    figures["own_bracket"] = {"upper": round(upper, 2), "lower": round(lower, 2),
                              "share_closed": round((upper - total) / (upper - lower), 4) if upper > lower else None}
    bracket = _bracket(instance.name)
    if bracket:
        upper, lower = bracket
        figures["bracket"] = {"upper": upper, "lower": lower,
                              "share_closed": round((upper - total) / (upper - lower), 4)}
    return figures


def _carried(instance: Any, recovered: Any, lines: list[Any], broken: list[Any]) -> tuple[list[float], int]:
    """The broken passengers carried: each one's arrival delay (minutes), and the legs they fly
    in a cabin below the one booked."""
    refs = {b.itinerary.id: reference_of(b.itinerary, instance) for b in broken}
    originals = {b.itinerary.id: set(b.itinerary.legs) for b in broken}
    carried = [line for line in lines if line.id in refs and not line.cancelled]
    delays = [max(0.0, (recovered[line.legs[-1].key].arrival - refs[line.id].planned_arrival).total_seconds() / 60)
              for line in carried for _ in range(line.count)]
    downgrades = sum(line.count for line in carried for leg in line.legs if leg not in originals[line.id]
                     and "EBF".index(leg.cabin) < "EBF".index(refs[line.id].cabin))
    return delays, downgrades


def run(instance_dir: Path, schedule: Path, out: Path, *, with_reference: bool) -> dict[str, Any]:
    instance = read_instance(instance_dir)
    recovered = (disrupted_schedule(instance, instance_dir) if str(schedule) == "original"
                 else read_recovered(schedule))
    result = recovery.recover(instance, recovered)
    out.mkdir(parents=True, exist_ok=True)
    write_solution(out / "sol_itineraries.csv", result.lines)
    # Read back what was written, as a checker would.
    summary = {"instance": instance.name, "schedule": str(schedule), "solver": result.assignment.method,
               **_figures(instance, recovered, read_itineraries(out / "sol_itineraries.csv"), result.broken,
                          result.seconds)}
    if with_reference:
        p = recovery.problem(instance, recovered, options_per_trip=reference.OPTIONS, every_way=True)
        ref = reference.solve(p)
        lines = recovery.solution_lines(instance, p, ref.assignment)
        exact = _figures(instance, recovered, lines, p.broken, ref.seconds)
        summary["reference"] = {"status": ref.status, "gap": round(ref.gap, 6), "seconds": round(ref.seconds, 1),
                                "total": exact["total"], "violation_count": exact["violation_count"],
                                "reaccommodated_passengers": exact["reaccommodated_passengers"],
                                "share_closed": exact.get("bracket", {}).get("share_closed"),
                                "own_share_closed": exact["own_bracket"]["share_closed"]}
        # Against the published bracket where there is one, else this checker's own.
        which = "bracket" if "bracket" in summary else "own_bracket"
        mine = summary[which]["share_closed"]
        best = summary["reference"]["share_closed" if which == "bracket" else "own_share_closed"]
        if mine is not None and best:
            summary["share_of_reference"] = round(mine / best, 4)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| instance | broken pax | re-accommodated | total | bracket closed | MIP closed (gap) | "
            "of MIP | mean / p90 delay (min) | downgrades | solve s | violations |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    body = ""
    for r in rows:
        ref = r.get("reference", {})
        d = r["arrival_delay_minutes"]
        own = "bracket" not in r  # this checker's bracket, marked *
        closed = r["own_bracket" if own else "bracket"]["share_closed"]
        best = ref.get("own_share_closed" if own else "share_closed") or 0
        body += (f"| {r['instance']}{'*' if own else ''} | {r['broken_passengers']} | "
                 f"{r['reaccommodated_passengers']} | {r['total']:,.2f} | {closed:.2%} | "
                 f"{best:.2%} ({ref.get('gap', 0):.2%}) | "
                 f"{r.get('share_of_reference', 0):.2%} | "
                 f"{d['mean']} / {d['p90']} | {r['downgraded_passenger_legs']} | {r['solve_seconds']} | "
                 f"{r['violation_count']} |\n")
    return head + body + ("\n*: no published bracket (B02 on its original schedule less its cancelled flights): "
                          "the bracket of this project's checker.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roadef", description=__doc__.split("\n\n")[0])
    parser.add_argument("instance", type=Path, nargs="?", help="the instance's folder")
    parser.add_argument("--schedule", type=Path, help="the recovered aircraft schedule (sol_rotations.csv), or "
                        "'original': the original schedule with the disruptions applied, cancelled flights gone")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reference", action="store_true", help="solve the exact MIP too")
    parser.add_argument("--all", action="store_true", help="the 14 instances on the peer's schedules")
    args = parser.parse_args(argv)
    try:
        if args.all:
            root, rows = data_root(), []
            runs = [(name, root / "fixed_schedules" / "lemos2021" / name / "sol_rotations.csv") for name in SET]
            # B02 has no peer schedule here: its original schedule, the disruptions applied.
            for name, schedule in [*runs, ("B02", Path("original"))]:
                rows.append(run(root / "instances" / name, schedule, args.out / name, with_reference=True))
                print(json.dumps({k: rows[-1].get(k) for k in ("instance", "total", "bracket", "reference",
                                                                "share_of_reference", "solve_seconds")}), flush=True)
            (args.out / "table.md").write_text(table(rows))
            print(table(rows))
            return 0
        if args.instance is None or args.schedule is None:
            parser.error("INSTANCE_DIR and --schedule are required (or --all)")
        print(json.dumps(run(args.instance, args.schedule, args.out, with_reference=args.reference), indent=1,
                         default=str))
        return 0
    except (InstanceError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
