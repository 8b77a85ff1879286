"""Security properties checked from the code and configuration, without running anything: SQL
text is never built from data, and production never runs on a development secret."""

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.compensation.config import CompensationSettings
from services.disruption.app import DisruptionSettings
from services.notify.app import NotifySettings
from services.rebooking.config import RebookingSettings
from shared.settings import Settings, load

ROOT = Path(__file__).resolve().parents[2]
QUERY_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare", "cursor"}


def _allowed(part: ast.expr) -> bool:
    """What SQL text may be made of besides literals: module constants (ALL_CAPS), a choice
    between literals, a schema name through `identifier()`, and a migration file's own text."""
    if isinstance(part, ast.Constant) and isinstance(part.value, str):
        return True
    if isinstance(part, ast.Name):
        return part.id.lstrip("_").isupper()
    if isinstance(part, ast.IfExp):
        return _allowed(part.body) and _allowed(part.orelse)
    if isinstance(part, ast.BinOp) and isinstance(part.op, ast.Add):
        return _allowed(part.left) and _allowed(part.right)
    if isinstance(part, ast.JoinedStr):
        return all(_allowed(v.value if isinstance(v, ast.FormattedValue) else v) for v in part.values)
    if isinstance(part, ast.Call) and isinstance(part.func, ast.Name) and part.func.id == "identifier":
        return True
    if isinstance(part, ast.Call) and isinstance(part.func, ast.Attribute) and part.func.attr == "read_text":
        return True  # a migration: SQL of the repository's own
    return False


def sql_built_from_data() -> list[str]:
    found = []
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in QUERY_METHODS and node.args and not _allowed(node.args[0])):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node.args[0])[:80]}")
    return found


def test_sql_is_built_only_with_parameters():
    assert sql_built_from_data() == []


def test_the_check_catches_data_in_sql_text():
    tree = ast.parse('conn.execute(f"SELECT * FROM t WHERE id = {passenger_id}")')
    call = tree.body[0].value
    assert not _allowed(call.args[0])
    assert _allowed(ast.parse('f"SELECT {COLUMNS} FROM t"').body[0].value)


SECRETS = {
    Settings: {"api_keys": "evaluator:k1"},
    DisruptionSettings: {"api_keys": "ops-viewer:k1", "partner_keys": "p:k:" + "0" * 64},
    RebookingSettings: {"api_keys": "ops-viewer:k1", "choice_secret": "c"},
    NotifySettings: {"api_keys": "reservations:k1", "sms_token": "t", "push_secret": "s"},
    CompensationSettings: {"api_keys": "evaluator:k1", "payment_api_key": "p"},
}


@pytest.mark.parametrize("settings_class", list(SECRETS), ids=lambda c: c.__name__)
def test_production_refuses_every_development_secret(settings_class, monkeypatch):
    for name in SECRETS[settings_class]:
        monkeypatch.delenv(f"REBOUND_{name.upper()}", raising=False)
    settings_class(**SECRETS[settings_class], environment="production")  # all from the environment: starts
    for name in SECRETS[settings_class]:
        others = {k: v for k, v in SECRETS[settings_class].items() if k != name}
        with pytest.raises(ValidationError, match=name.upper()):
            settings_class(**others, environment="production")


def test_each_key_does_its_one_job_and_production_wants_every_key_to_name_it(monkeypatch):
    monkeypatch.delenv("REBOUND_API_KEYS", raising=False)
    settings = Settings(api_keys="ops-viewer:v1,reservations:r1,reservations:r2,all-jobs")
    assert settings.keys_for("ops-viewer") == ["v1", "all-jobs"]
    assert settings.keys_for("reservations") == ["r1", "r2", "all-jobs"]
    assert settings.keys_for("evaluator") == ["all-jobs"]
    with pytest.raises(ValidationError, match="names its one job"):
        Settings(api_keys="ops-viewer:v1,all-jobs", environment="production")


def test_a_service_that_cannot_start_says_why_and_never_the_secret(monkeypatch):
    secret, digest = "s3cret-api-key-value", "ab" * 32
    monkeypatch.setenv("REBOUND_ENVIRONMENT", "production")
    monkeypatch.setenv("REBOUND_API_KEYS", secret)
    with pytest.raises(SystemExit) as stopped:
        load(Settings)
    assert "names its one job" in str(stopped.value) and secret not in str(stopped.value)
    monkeypatch.setenv("REBOUND_ENVIRONMENT", "development")
    monkeypatch.setenv("REBOUND_PARTNER_KEYS", f"p:k:{digest[:-1]}")  # one digit short
    with pytest.raises(SystemExit) as stopped:
        load(DisruptionSettings)
    assert "partner key 1" in str(stopped.value) and digest[:20] not in str(stopped.value)
