"""The compensation service's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

GRANTS = Counter("rebound_grants_total", "Grants written or raised in the ledger.", ["regime", "kind"])
GRANTED_AMOUNT = Counter("rebound_granted_amount_total",
                         "Amounts granted, in the currency's major units.", ["currency", "kind"])
PAYOUTS = Gauge("rebound_payouts", "Payouts to passengers by status (refreshed from the ledger).",
                ["status", "kind"])
PAYOUT_ATTEMPTS = Counter("rebound_payout_attempts_total", "Calls to the payment provider, by result.",
                          ["result"])  # paid | retry | failed
EVALUATION_SECONDS = Histogram(
    "rebound_entitlement_evaluation_seconds", "Time to evaluate one case with the policy engine.",
    ["via"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))
