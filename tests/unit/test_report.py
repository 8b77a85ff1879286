"""The benchmark's HTML report shows every figure of its results file as tables with units, read
from the figures' names as `bench/run.py` writes them (`bench/results/2013-02-08-burst-2013.json`,
a real run of the blizzard day, is the sample)."""

import json
import re
from pathlib import Path

from bench import report

RESULTS = json.loads((Path(__file__).parents[2] / "bench" / "results" / "2013-02-08-burst-2013.json").read_text())


def test_units_come_from_the_figures_names():
    assert report.unit_of("first_notice_ms") == "ms"
    assert report.unit_of("outcome_complete_s") == "s"
    assert report.unit_of("throughput_pax_per_s") == "passengers/s"
    assert report.unit_of("pg_tx_per_s") == "transactions/s"
    assert report.unit_of("cpu_ms_per_passenger") == "ms of CPU per passenger"
    assert report.unit_of("passengers_affected") == ""


def test_every_figure_is_in_a_table_and_none_is_a_raw_dump():
    page = report.figures(RESULTS)
    assert "<pre>" not in page and "{" not in page
    assert "<th>first notice</th><td>p50 35,624.9 ms, p99 71,533.6 ms, max 72,457.7 ms (n = 83,770)</td>" in page
    assert "<th>outcome complete</th><td>220.8 s</td>" in page
    assert "<th>throughput pax per s</th><td>251.7 passengers/s</td>" in page
    assert "<th>seed</th><td>2013</td>" in page
    for name, value in RESULTS.items():
        shown = "Run" if not isinstance(value, dict | list) or "p50" in value else report._label(name)
        assert f"<h3>{shown}</h3>" in page, name


def test_labels_in_a_table_are_never_repeated():
    page = report.figures(RESULTS)
    for table in re.findall(r"<table>((?:(?!<table>).)*?)</table>", page):
        labels = re.findall(r"<tr><th>([^<]+)</th><td>", table)
        assert len(labels) == len(set(labels)), labels
