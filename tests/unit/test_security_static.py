"""Security properties checked from the code and configuration, without running anything: SQL
text is never built from data, and production never runs on a development secret."""

import ast
import base64
import importlib
import re
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.public import PrivateKey
from pydantic import ValidationError

from services.compensation.config import CompensationSettings
from services.disruption import bootstrap as disruption_bootstrap
from services.disruption.config import DisruptionSettings
from services.notify.config import NotifySettings
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


STRONG = "x" * 32
_NOTIFY_KEY = PrivateKey.generate()
SEALING = f"k1:{base64.b64encode(bytes(_NOTIFY_KEY.public_key)).decode()}"
OPENING = f"k1:{base64.b64encode(bytes(_NOTIFY_KEY)).decode()}"
KAFKA = {"kafka_security_protocol": "SASL_SSL", "kafka_username": "svc", "kafka_password": STRONG}
# A verification key of SendGrid's kind (ECDSA P-256, base64 DER), not the sandbox's.
EVENTS_KEY = base64.b64encode(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
SECRETS = {
    Settings: KAFKA | {"api_keys": f"evaluator:{STRONG}", "database_url": f"postgresql://svc:{STRONG}@db/rebound?sslmode=verify-full"},
    DisruptionSettings: KAFKA | {"api_keys": f"ops-viewer:{STRONG}", "partner_keys": "p:k:" + "0" * 64,
                         "database_url": f"postgresql://svc:{STRONG}@db/rebound?sslmode=verify-full"},
    RebookingSettings: KAFKA | {"api_keys": f"ops-viewer:{STRONG}", "choice_secret": STRONG,
                                "notice_sealing_key": SEALING, "public_url": "https://rebound.example.org",
                                "database_url": f"postgresql://svc:{STRONG}@db/r?sslmode=verify-full"},
    NotifySettings: KAFKA | {"api_keys": f"reservations:{STRONG}", "sms_token": STRONG, "push_secret": STRONG,
                     "sms_report_secret": STRONG, "email_api_key": STRONG, "email_inbound_secret": STRONG,
                     "notice_opening_keys": OPENING, "email_events_public_key": EVENTS_KEY,
                     "public_url": "https://rebound.example.org", "sms_api_url": "https://api.infobip.com",
                     "email_api_url": "https://api.sendgrid.com", "push_webhook_url": "https://push.example.org/v1",
                     "database_url": f"postgresql://svc:{STRONG}@db/r?sslmode=verify-full"},
    CompensationSettings: KAFKA | {"api_keys": f"evaluator:{STRONG}", "payment_api_key": STRONG,
                                   "payment_api_url": "https://payments.example.org", "notice_sealing_key": SEALING,
                                   "database_url": f"postgresql://svc:{STRONG}@db/rebound?sslmode=verify-full"},
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


def test_a_provider_not_chosen_needs_no_secret_in_production(monkeypatch):
    """An airline on Twilio and SMTP gives no SendGrid key and no Infobip report secret."""
    for name in ("sms_report_secret", "email_api_key"):
        monkeypatch.delenv(f"REBOUND_{name.upper()}", raising=False)
    given = {k: v for k, v in SECRETS[NotifySettings].items() if k not in ("sms_report_secret", "email_api_key")}
    NotifySettings(**given, sms_provider="twilio", email_provider="smtp", environment="production")
    with pytest.raises(ValidationError, match="REBOUND_EMAIL_API_KEY"):
        NotifySettings(**given, sms_provider="twilio", environment="production")


def test_each_key_does_its_one_job_and_production_wants_every_key_to_name_it(monkeypatch):
    monkeypatch.delenv("REBOUND_API_KEYS", raising=False)
    settings = Settings(api_keys="ops-viewer:v1,reservations:r1,reservations:r2,all-jobs,ops-agent@Ana Ruiz:a1")

    def keys_for(role):
        return [k.key for k in settings.access().keys_for(role)]
    # An agent's key also views the console; a viewer's key acts on nothing.
    assert keys_for("ops-viewer") == ["v1", "all-jobs", "a1"]
    assert keys_for("ops-agent") == ["all-jobs", "a1"]
    assert keys_for("reservations") == ["r1", "r2", "all-jobs"]
    assert keys_for("evaluator") == ["all-jobs"]
    # Who acted, for the audit: the holder named in the key, or its job and position.
    assert [k.holder for k in settings.access().keys] == [
        "ops-viewer key 1", "reservations key 2", "reservations key 3", "development key 4", "Ana Ruiz"]
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


@pytest.mark.parametrize("settings_class", list(SECRETS), ids=lambda c: c.__name__)
def test_production_refuses_a_short_secret_and_names_it_without_its_value(settings_class, monkeypatch):
    for name in SECRETS[settings_class]:
        monkeypatch.delenv(f"REBOUND_{name.upper()}", raising=False)
    for name, value in SECRETS[settings_class].items():
        if value != STRONG and not value.endswith(f":{STRONG}"):
            continue  # not a secret of ours (a URL, a partner key's digest)
        short = value.replace(STRONG, "short-but-not-32-chars")
        with pytest.raises(ValidationError, match="shorter than 32") as refused:
            settings_class(**SECRETS[settings_class] | {name: short}, environment="production")
        assert "short-but-not-32-chars" not in str(refused.value).split("[type=")[0]


@pytest.mark.parametrize(("settings_class", "name"), [
    (CompensationSettings, "payment_api_url"), (NotifySettings, "sms_api_url"), (NotifySettings, "email_api_url"),
    (NotifySettings, "push_webhook_url"), (NotifySettings, "email_lookup_url"), (NotifySettings, "public_url")])
def test_production_calls_nobody_outside_in_clear(settings_class, name, monkeypatch):
    monkeypatch.delenv(f"REBOUND_{name.upper()}", raising=False)
    with pytest.raises(ValidationError, match=f"REBOUND_{name.upper()} must be an https:// address"):
        settings_class(**SECRETS[settings_class] | {name: "http://provider.example.org"}, environment="production")


@pytest.mark.parametrize("url", ["postgresql://svc:{}@db/r", "postgresql://svc:{}@db/r?sslmode=require",
                                 "postgresql://svc:{}@db/r?sslmode=verify-ca"])
def test_production_checks_the_databases_certificate_and_name(url, monkeypatch):
    monkeypatch.delenv("REBOUND_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="sslmode=verify-full"):
        Settings(**SECRETS[Settings] | {"database_url": url.format(STRONG)}, environment="production")


@pytest.mark.parametrize("settings_class", [RebookingSettings, CompensationSettings, NotifySettings],
                         ids=lambda c: c.__name__)
def test_production_refuses_the_development_keys_under_any_key_id(settings_class, monkeypatch):
    """The development sealing and opening keys are in this repository: renamed, they are no
    secret either (found here: `prod:<the development key>` started in production)."""
    name = {RebookingSettings: "notice_sealing_key", CompensationSettings: "notice_sealing_key",
            NotifySettings: "notice_opening_keys"}[settings_class]
    monkeypatch.delenv(f"REBOUND_{name.upper()}", raising=False)
    development = settings_class.model_fields[name].default
    renamed = "prod" + development[development.index(":"):]
    with pytest.raises(ValidationError, match=f"REBOUND_{name.upper()} holds a development key's material"):
        settings_class(**SECRETS[settings_class] | {name: renamed}, environment="production")
    with pytest.raises(ValidationError, match="development key's material"):  # beside a real one, too
        settings_class(**SECRETS[settings_class] | {name: f"{SECRETS[settings_class][name]},{renamed}"},
                       environment="production")


def test_unset_means_production_and_production_wants_https(monkeypatch):
    for name in ("ENVIRONMENT", "API_KEYS", "CHOICE_SECRET", "PUBLIC_URL", "DATABASE_URL"):
        monkeypatch.delenv(f"REBOUND_{name}", raising=False)
    with pytest.raises(ValidationError, match="REBOUND_API_KEYS must be set"):
        Settings()
    with pytest.raises(ValidationError, match="https"):
        RebookingSettings(**SECRETS[RebookingSettings] | {"public_url": "http://rebound.example.org"})
    assert RebookingSettings(**SECRETS[RebookingSettings]).environment == "production"


@pytest.mark.parametrize("path", ["deploy/Dockerfile", "deploy/containers/kafka.Dockerfile",
                                  "deploy/containers/postgres.Dockerfile"])
def test_every_image_runs_as_nobody_in_particular_on_a_pinned_debian_release(path):
    dockerfile = (ROOT / path).read_text()
    lines = [line.split() for line in dockerfile.splitlines() if line and not line.startswith("#")]
    base = next(words[1] for words in lines if words[0] == "ARG" and words[1].startswith("BASE_IMAGE="))
    # Debian 12 by its release name (or a digest of it), the same as the base made here.
    assert re.fullmatch(r"BASE_IMAGE=debian:bookworm(-slim)?(@sha256:[0-9a-f]{64})?", base), base
    assert all(words[1] == "${BASE_IMAGE}" for words in lines if words[0] == "FROM"), path
    user = [words[1] for words in lines if words[0] == "USER"]
    assert user and not user[-1].startswith(("0", "root"))
    assert "REBOUND_ENVIRONMENT" not in " ".join(" ".join(w) for w in lines)


def test_the_services_image_holds_runtime_dependencies_only():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert re.search(r'"uv==\$\{UV_VERSION\}"', dockerfile) and "ARG UV_VERSION=0." in dockerfile
    assert "--no-default-groups" in dockerfile and "COPY bench" not in dockerfile


def test_compose_defaults_to_no_secret_and_no_development():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "REBOUND_ENVIRONMENT: ${REBOUND_ENVIRONMENT:?" in compose
    # Defaults only for where things are published and built from, never for a setting or secret.
    defaulted = set(re.findall(r"\$\{(REBOUND_\w+):-", compose))
    assert all(name.endswith("_PORT") or name == "REBOUND_BASE_IMAGE" for name in defaulted), defaulted
    assert "dev-only" not in compose and "rebound:rebound@" not in compose


@pytest.mark.parametrize("settings_class, create_app", [
    (DisruptionSettings, "services.disruption.bootstrap"), (RebookingSettings, "services.rebooking.bootstrap"),
    (NotifySettings, "services.notify.bootstrap"), (CompensationSettings, "services.compensation.bootstrap")])
async def test_production_describes_no_api_and_shows_metrics_to_the_monitoring_key_only(settings_class, create_app):
    settings = settings_class(**SECRETS[settings_class] | {"api_keys": f"monitoring:{'m' * 32},evaluator:{STRONG}"},
                              environment="production")
    app = importlib.import_module(create_app).create_app(settings)  # not started: no Kafka, no database
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {STRONG}"})).status_code == 403
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {'m' * 32}"})).status_code == 200


def test_production_can_refuse_a_partner_key_that_may_report_on_any_airline(monkeypatch, caplog):
    for name in ("PARTNER_KEYS", "PARTNER_KEYS_SCOPED_ONLY"):
        monkeypatch.delenv(f"REBOUND_{name}", raising=False)
    given = SECRETS[DisruptionSettings]
    with pytest.raises(ValidationError, match="key 'k' names no carriers= scope"):
        DisruptionSettings(**given, partner_keys_scoped_only=True, environment="production")
    DisruptionSettings(**given | {"partner_keys": "p:k:" + "0" * 64 + ":carriers=B6"}, partner_keys_scoped_only=True,
                       environment="production")
    with caplog.at_level("WARNING"):
        disruption_bootstrap.create_app(DisruptionSettings(**given, environment="production"))
    assert any("UNSCOPED PARTNER KEY" in r.getMessage() and r.key_id == "k" for r in caplog.records)
