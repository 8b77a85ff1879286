"""The Prometheus configuration and alert rules in deploy/prometheus/: valid by promtool (Debian's
Prometheus; `make promtool` installs it), every alert tested by promtool's own unit tests; and the
Grafana dashboards in deploy/grafana/ as their code builds them. Every metric they name is one the
services define."""

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from deploy.grafana import dashboards

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
# Every module that defines metrics (importing one registers its metrics).
METRIC_MODULES = ("shared.metrics", "services.disruption.metrics", "services.rebooking.metrics",
                  "services.compensation.metrics", "services.notify.sender")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("promtool"), "run `make promtool` first"
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_the_scrape_configuration_is_valid(tmp_path: Path):
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    (tmp_path / "monitoring.key").write_text("a-monitoring-key\n")  # make demo writes the real one here
    run = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_alert_rules_are_valid_and_each_fires_when_it_should():
    checked = promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = _rules()
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    tested_alerts = {case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case["exp_alerts"]}
    assert {r["alert"] for r in rules} == tested_alerts  # every alert shown to fire at least once


@pytest.mark.parametrize("alert", [r["alert"] for r in yaml.safe_load(
    (PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]])
def test_each_alert_reads_metrics_the_services_define(alert: str):
    [rule] = [r for r in _rules() if r["alert"] == alert]
    used = set(re.findall(r"\brebound_[a-z_]+\b", rule["expr"]))
    assert used and used <= _defined(), used - _defined()
    assert {"summary", "description"} <= set(rule["annotations"]) and rule["labels"]["severity"] in ("page", "ticket")


def test_the_scrape_targets_are_the_services_ports():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {c["labels"]["service"]: c["targets"][0] for c in config["scrape_configs"][0]["static_configs"]}
    ports = {name: importlib.import_module(f"services.{name}.config") for name in targets}
    assert targets == {name: f"127.0.0.1:{_port(module, name)}" for name, module in ports.items()}


def _port(module: object, service: str) -> int:
    settings_class = {"disruption": "DisruptionSettings", "rebooking": "RebookingSettings",
                      "compensation": "CompensationSettings", "notify": "NotifySettings"}[service]
    port: int = getattr(module, settings_class).model_fields["http_port"].default
    return port


def _rules() -> list[dict]:
    return [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for r in g["rules"]]


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _defined() -> set[str]:
    """The series names the services' metrics can have (labelled ones have no sample until used)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    return {family.name + suffix for family in REGISTRY.collect() for suffix in SUFFIXES.get(family.type, ("",))}


def test_the_dashboards_are_what_their_code_builds():
    """deploy/grafana/dashboards/*.json are written by `python -m deploy.grafana.dashboards`."""
    for name, text in dashboards.rendered().items():
        written = (dashboards.HERE / f"{name}.json").read_text()
        assert written == text, f"run python -m deploy.grafana.dashboards ({name})"
    assert {p.stem for p in dashboards.HERE.glob("*.json")} == set(dashboards.DASHBOARDS)


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS))
def test_every_dashboard_query_reads_metrics_the_services_define(name: str):
    board = json.loads((dashboards.HERE / f"{name}.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\brebound_[a-z_]+\b", e)}
    assert exprs and used and used <= _defined(), used - _defined()
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert {p["datasource"]["uid"] for p in board["panels"]} == {d["uid"] for d in datasource["datasources"]}
