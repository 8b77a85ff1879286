"""Grafana dashboards for Rebound, built with Grafana's own typed builders (grafana-foundation-sdk)
and written as JSON to deploy/grafana/dashboards/, which Grafana provisions (provisioning/).

    python -m deploy.grafana.dashboards      # writes the JSON; a test checks it is up to date

Every query reads a metric the services define (tests/unit/test_observability.py checks)."""

import json
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

HERE = Path(__file__).parent / "dashboards"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")  # provisioning/datasources/


def query(expr: str, legend: str = "") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).datasource(PROMETHEUS)


def chart(title: str, unit: str, *queries: prometheus.Dataquery) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(PROMETHEUS)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def figure(title: str, unit: str, q: prometheus.Dataquery) -> stat.Panel:
    return stat.Panel().title(title).unit(unit).datasource(PROMETHEUS).height(4).span(6).with_target(q)


def quantile(q: float, histogram: str, by: str = "") -> str:
    groups = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({groups}) (rate({histogram}_bucket[5m])))"


def _board(name: str) -> dashboard.Dashboard:
    """A Rebound dashboard: its title and uid from its name, the last hour, refreshed every 5 s."""
    return (dashboard.Dashboard(f"Rebound: {name}").uid(f"rebound-{name}").tags(["rebound"]).refresh("5s")
            .time("now-1h", "now"))


def pipeline() -> dashboard.Dashboard:
    """The storm at a glance: who is hurt, told and decided, and whether the pipeline keeps up."""
    return (_board("pipeline")
            .with_panel(figure("Passengers affected (1 h)", "short",
                               query("sum(increase(rebound_passengers_affected_total[1h]))")))
            .with_panel(figure("Waiting for an outcome", "short", query("sum(rebound_passengers_awaiting_outcome)")))
            .with_panel(figure("Longest wait for an outcome", "s",
                               query("max(rebound_passengers_awaiting_outcome_longest_seconds)")))
            .with_panel(figure("First notice p99", "s", query(quantile(0.99, "rebound_first_notice_seconds"))))
            .with_panel(chart("Passengers affected, told and decided (per minute)", "short",
                              query("sum(rate(rebound_passengers_affected_total[1m])) * 60", "affected"),
                              query('sum(rate(rebound_notices_total{stage="first_notice",status="sent"}[1m])) * 60',
                                    "first notices sent"),
                              query("sum(rate(rebound_rebooking_passengers_total[1m])) * 60", "decided")))
            .with_panel(chart("Consumer lag", "short", query("sum by (group, topic) (rebound_consumer_lag)",
                                                             "{{group}} {{topic}}")))
            .with_panel(chart("Messages consumed", "short",
                              query("sum by (service, outcome) (rate(rebound_messages_consumed_total[1m]))",
                                    "{{service}} {{outcome}}")))
            .with_panel(chart("Batch time p99", "s", query(quantile(0.99, "rebound_consumer_batch_duration_seconds",
                                                                     "service"), "{{service}}")))
            .with_panel(chart("Flights by status", "short", query("sum by (status) (rebound_flights)", "{{status}}")))
            .with_panel(chart("Partner events", "short",
                              query("sum by (channel) (rate(rebound_flight_events_accepted_total[1m]))",
                                    "accepted {{channel}}"),
                              query("sum by (channel, reason) (rate(rebound_flight_events_rejected_total[1m]))",
                                    "refused {{channel}} {{reason}}"))))


def notify() -> dashboard.Dashboard:
    return (_board("notify")
            .with_panel(chart("First notice, event to provider", "s",
                              query(quantile(0.5, "rebound_first_notice_seconds"), "p50"),
                              query(quantile(0.99, "rebound_first_notice_seconds"), "p99")))
            .with_panel(chart("Notices by result", "short",
                              query("sum by (stage, channel, status) (rate(rebound_notices_total[1m]))",
                                    "{{stage}} {{channel}} {{status}}")))
            .with_panel(chart("Queue", "short", query("sum by (path, status) (rebound_notice_queue)",
                                                      "{{path}} {{status}}")))
            .with_panel(chart("Retries", "short",
                              query("sum by (channel, why) (rate(rebound_notice_retries_total[1m]))",
                                    "{{channel}} {{why}}")))
            .with_panel(chart("Provider circuits open", "short",
                              query("max by (channel) (rebound_provider_circuit_open)", "{{channel}}"))))


def rebooking() -> dashboard.Dashboard:
    return (_board("rebooking")
            .with_panel(chart("Outcomes (passengers per minute)", "short",
                              query("sum by (outcome) (rate(rebound_rebooking_passengers_total[1m])) * 60",
                                    "{{outcome}}")))
            .with_panel(chart("Assignment solve time", "s",
                              query(quantile(0.5, "rebound_rebooking_solve_seconds"), "p50"),
                              query(quantile(0.99, "rebound_rebooking_solve_seconds"), "p99")))
            .with_panel(chart("Seats", "short",
                              query("sum(rate(rebound_rebooking_seats_taken_total[1m]))", "taken"),
                              query("sum(rate(rebound_rebooking_seats_released_total[1m]))", "released"),
                              query("sum(rate(rebound_rebooking_seat_races_lost_total[1m]))", "races lost")))
            .with_panel(chart("Passengers' answers", "short",
                              query("sum by (answer) (rate(rebound_rebooking_choices_total[5m]))", "{{answer}}"))))


def compensation() -> dashboard.Dashboard:
    return (_board("compensation")
            .with_panel(chart("Granted, by currency and kind (per minute)", "short",
                              query("sum by (currency, kind) (rate(rebound_granted_amount_total[1m])) * 60",
                                    "{{currency}} {{kind}}")))
            .with_panel(chart("Grants by regime", "short",
                              query("sum by (regime, kind) (rate(rebound_grants_total[1m]))", "{{regime}} {{kind}}")))
            .with_panel(chart("Payouts", "short",
                              query("sum by (status, kind) (rebound_payouts)", "{{status}} {{kind}}")))
            .with_panel(chart("Payment provider calls", "short",
                              query("sum by (result) (rate(rebound_payout_attempts_total[1m]))", "{{result}}")))
            .with_panel(chart("Evaluation time p99", "s",
                              query(quantile(0.99, "rebound_entitlement_evaluation_seconds", "via"), "{{via}}"))))


DASHBOARDS = {"pipeline": pipeline, "notify": notify, "rebooking": rebooking, "compensation": compensation}


def rendered() -> dict[str, str]:
    """Each dashboard's JSON, as written to dashboards/<name>.json."""
    return {name: json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
            for name, build in DASHBOARDS.items()}


if __name__ == "__main__":
    for name, text in rendered().items():
        (HERE / f"{name}.json").write_text(text)
        print(f"wrote {HERE / name}.json")
