"""The benchmark's HTML report: the figures, and three charts (notices and outcomes over time, the
first-notice latency distribution, outcomes by carrier) drawn with matplotlib and embedded."""

import base64
import html
import io
import json
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: draw to files
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

COLOURS = {"rebooked": "#2a9d8f", "refunded": "#e9c46a", "needs_agent": "#e76f51", "kept": "#8ab17d",
           "none": "#6c757d"}


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def over_time(start: datetime, notices: list[datetime], outcomes: list[datetime]) -> str:
    figure, left = plt.subplots(figsize=(9, 3.6))
    seconds = [(t - start).total_seconds() for t in notices]
    width = max(1.0, max(seconds, default=0) / 120)
    if seconds:
        left.hist(seconds, bins=max(1, round(max(seconds) / width) + 1), color="#264653")
    left.set_xlabel("seconds since the first event was sent")
    left.set_ylabel(f"first notices at the providers per {width:.3g} s", color="#264653")
    right = left.twinx()
    done = sorted((t - start).total_seconds() for t in outcomes)
    right.plot(done, range(1, len(done) + 1), color="#e76f51")
    right.set_ylabel("passengers with an outcome (cumulative)", color="#e76f51")
    left.set_title("Notices and outcomes over time")
    return _png(figure)


def latency(ms: list[float]) -> str:
    figure, axes = plt.subplots(figsize=(9, 3.2))
    if ms:
        axes.hist([m / 1000 for m in ms], bins=60, color="#2a9d8f")
    axes.set_xlabel("event sent → first notice accepted by the provider (s)")
    axes.set_ylabel("passenger × channel")
    axes.set_title("First-notice latency")
    return _png(figure)


def by_carrier(outcomes: dict[str, dict[str, int]]) -> str:
    figure, axes = plt.subplots(figsize=(9, 3.6))
    carriers = sorted(outcomes, key=lambda c: -sum(outcomes[c].values()))
    bottom = [0] * len(carriers)
    for outcome, colour in COLOURS.items():
        values = [outcomes[c].get(outcome, 0) for c in carriers]
        if any(values):
            axes.bar(carriers, values, bottom=bottom, color=colour, label=outcome.replace("_", " "))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_ylabel("affected passengers")
    axes.set_title("Outcomes by carrier")
    axes.legend(frameon=False)
    return _png(figure)


def _figure(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:,.0f} {unit}"


def write(path: Path, results: dict, start: datetime, found: dict) -> None:
    charts = [over_time(start, found["first_notice_received"], found["outcome_at"]),
              latency(found["first_notice_ms"]), by_carrier(found["outcomes_by_carrier"])]
    s = results["scenario"]
    title = f"Rebound replay — {s['date']} at {s['speed']}, seed {s['seed']}"
    images = "\n".join(f'<img alt="chart" src="data:image/png;base64,{c}">' for c in charts)
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:15px/1.4 system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}}
img{{max-width:100%;display:block;margin:1em 0}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>Audit: <strong>{"clean" if results["audit"]["clean"] else "violations found"}</strong>.
{results["passengers_affected"]} passengers affected on {results["cancelled"]} cancelled and {results["delayed"]}
delayed flights of {results["flights"]}. First notice p99 {_figure(results["first_notice_ms"]["p99"], "ms")};
every outcome {_figure(results["outcome_complete_s"], "s")} after the first event.</p>
{images}
<h2>Figures</h2><pre>{html.escape(json.dumps(results, indent=2))}</pre></body></html>
""")
