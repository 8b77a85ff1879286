"""The benchmark's HTML report: the figures, and three charts (notices and outcomes over time, the
first-notice latency distribution, outcomes by carrier) drawn with matplotlib and embedded."""

import base64
import html
import io
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


# Units by the end of a figure's name (the longest that fits wins), as the results file names them.
UNITS = {
    "_ms": "ms", "_s": "s", "_per_s": "/s", "_pax_per_s": "passengers/s", "_msgs_per_s": "messages/s",
    "_tx_per_s": "transactions/s", "_rows_per_s": "rows/s", "_gib": "GiB", "_mb": "MB", "_mib": "MiB",
    "_ms_per_passenger": "ms of CPU per passenger", "_ms_per_passenger_until_all_told": "ms of CPU per passenger",
    "cpu_s": "s of CPU", "outcome_s_after_first_event": "s",
}
# Figures that are names, not quantities: never written with thousands separators.
NAMES = {"seed", "run", "date", "speed"}
PERCENTILES = ("p50", "p90", "p99", "max")


def _suffix(name: str) -> str:
    return max((suffix for suffix in UNITS if name.endswith(suffix) or name == suffix), key=len, default="")


def unit_of(name: str) -> str:
    return UNITS.get(_suffix(name), "")


def _value(value: object, unit: str) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return html.escape(f"{text} {unit}".strip())


def _label(name: str) -> str:
    """The figure's name without its unit, which its value carries."""
    suffix = _suffix(name)
    bare = name[: -len(suffix)] if suffix in ("_ms", "_s", "_gib", "_mb", "_mib") and name != suffix else name
    return html.escape(bare.replace("_", " "))


def _is_distribution(value: object) -> bool:
    return isinstance(value, dict) and "p50" in value


def _distribution(value: dict, unit: str) -> str:
    parts = [f"{p} {_value(value[p], unit)}" for p in PERCENTILES if p in value]
    return ", ".join(parts) + (f" (n = {value['n']:,})" if "n" in value else "")


def _rows(value: dict, unit: str) -> str:
    rows = []
    for name, item in value.items():
        own = unit_of(name) or unit
        if _is_distribution(item):
            cell = _distribution(item, own)
        elif isinstance(item, dict):
            cell = "<table>" + _rows(item, own) + "</table>"
        elif isinstance(item, list) and item and isinstance(item[0], dict):
            cell = _listing(item)
        else:
            cell = html.escape(str(item)) if name in NAMES else _value(item, own)
        rows.append(f"<tr><th>{_label(name)}</th><td>{cell}</td></tr>")
    return "".join(rows)


def _listing(items: list[dict]) -> str:
    columns = list(dict.fromkeys(k for item in items for k in item))
    head = "".join(f"<th>{_label(c)}{' (' + unit_of(c) + ')' if unit_of(c) else ''}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_value(item.get(c), '')}</td>" for c in columns) + "</tr>"
                   for item in items)
    return f"<table><tr>{head}</tr>{body}</table>"


def figures(results: dict) -> str:
    """Every figure of a results file as tables, each with its unit: a section per top-level
    entry, percentiles on one line, nested figures as nested tables."""
    scalars = {k: v for k, v in results.items() if not isinstance(v, dict | list) or _is_distribution(v)}
    parts = [f"<h3>Run</h3><table>{_rows(scalars, '')}</table>"]
    for name, value in results.items():
        if name in scalars:
            continue
        inner = _listing(value) if isinstance(value, list) and value and isinstance(value[0], dict) \
            else f"<table>{_rows(value, unit_of(name))}</table>" if isinstance(value, dict) \
            else _value(value, unit_of(name))
        parts.append(f"<h3>{_label(name)}</h3>{inner}")
    return "\n".join(parts)


def write(path: Path, results: dict, start: datetime, found: dict) -> None:
    charts = [over_time(start, found["first_notice_received"], found["outcome_at"]),
              latency(found["first_notice_ms"]), by_carrier(found["outcomes_by_carrier"])]
    s = results["scenario"]
    title = f"Rebound replay — {s['date']} at {s['speed']}, seed {s['seed']}"
    images = "\n".join(f'<img alt="chart" src="data:image/png;base64,{c}">' for c in charts)
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:15px/1.4 system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}}
img{{max-width:100%;display:block;margin:1em 0}}table{{border-collapse:collapse;margin:.3em 0}}
th,td{{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}}th{{font-weight:600}}
td table{{margin:0}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>Audit: <strong>{"clean" if results["audit"]["clean"] else "violations found"}</strong>.
{results["passengers_affected"]} passengers affected on {results["cancelled"]} cancelled and {results["delayed"]}
delayed flights of {results["flights"]}. First notice p99 {_figure(results["first_notice_ms"]["p99"], "ms")};
every outcome {_figure(results["outcome_complete_s"], "s")} after the first event.</p>
{images}
<h2>Figures</h2><p>Every figure of <code>{html.escape(path.with_suffix(".json").name)}</code>, with its unit.</p>
{figures(results)}</body></html>
""")
