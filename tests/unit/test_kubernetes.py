"""The Kubernetes manifests (deploy/kubernetes/), rendered as `kubectl apply -k` would take them and
checked structurally, since no cluster runs here: every object well formed and listed, every
Secret and ConfigMap referenced there with the key asked for, every probe on a path the service's
own app serves at the port it listens on, every setting named one the service reads and enough of
them for production to start, the pods locked down, the replicas the storm benchmark's measured
CPU asks for, and memory for the peak it measured."""

import json
import math
import os
import secrets
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.public import PrivateKey
from pydantic import ValidationError

from services.compensation import bootstrap as compensation
from services.compensation.config import CompensationSettings
from services.disruption import bootstrap as disruption
from services.disruption.config import DisruptionSettings
from services.notify import bootstrap as notify
from services.notify.config import NotifySettings
from services.rebooking import bootstrap as rebooking
from services.rebooking.config import RebookingSettings
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
STORM = ROOT / "bench" / "results" / "2013-02-08-burst-2013.json"
# The same day in a later run, which also recorded each process's peak resident memory.
STORM_MEMORY = ROOT / "bench" / "results" / "2013-02-08-burst-2013-replicas1.json"
SERVICES: dict[str, tuple[type[Settings], Any]] = {
    "disruption": (DisruptionSettings, disruption.create_app),
    "rebooking": (RebookingSettings, rebooking.create_app),
    "compensation": (CompensationSettings, compensation.create_app),
    "notify": (NotifySettings, notify.create_app),
}


def render() -> list[dict[str, Any]]:
    """Every object the kustomization lists, in its namespace (what `kubectl kustomize` gives)."""
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((MANIFESTS / resource).read_text()):
            if document and document["kind"] != "Namespace":
                document["metadata"]["namespace"] = kustomization["namespace"]
            if document:
                objects.append(document)
    return objects


OBJECTS = render()


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in OBJECTS if o["kind"] == kind}


def containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec, container) for every Deployment and Job."""
    for kind in ("Deployment", "Job"):
        for name, workload in of_kind(kind).items():
            pod = workload["spec"]["template"]["spec"]
            for container in pod["containers"]:
                yield name, pod, container


def test_every_file_is_listed_and_every_object_is_well_formed() -> None:
    listed = set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"])
    assert {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"} == listed
    seen = set()
    for o in OBJECTS:
        assert {"apiVersion", "kind", "metadata"} <= o.keys(), o
        key = (o["kind"], o["metadata"]["name"])
        assert key not in seen, f"{key} twice"
        seen.add(key)


def test_a_deployment_service_and_disruption_budget_per_service() -> None:
    deployments, services, budgets = of_kind("Deployment"), of_kind("Service"), of_kind("PodDisruptionBudget")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selects = deployment["spec"]["selector"]["matchLabels"]
        assert selects.items() <= labels.items(), name
        assert services[name]["spec"]["selector"].items() <= labels.items(), name
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        # A drain may take one replica, never all of them.
        assert budgets[name]["spec"]["maxUnavailable"] < deployment["spec"]["replicas"], name


@pytest.mark.parametrize("name", SERVICES)
async def test_probes_are_on_paths_the_service_serves_at_the_port_it_listens_on(name: str) -> None:
    settings_class, create_app = SERVICES[name]
    container = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    listens = int(env.get("REBOUND_HTTP_PORT") or settings_class.model_fields["http_port"].default)
    # The app unstarted (no Kafka, no database): a path it serves is routed, whatever it answers.
    app = create_app(settings_class(environment="test"))
    probes = {kind: container[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        assert (await client.get("/no-such-probe")).status_code == 404
        for probe in probes.values():
            assert (await client.get(probe["path"])).status_code not in (404, 405), probe
            assert ports.get(probe["port"], probe["port"]) == listens
    service_port = of_kind("Service")[name]["spec"]["ports"][0]
    assert ports.get(service_port["targetPort"], service_port["targetPort"]) == listens


def test_every_secret_and_config_map_referenced_exists_with_the_key() -> None:
    secrets_, maps = of_kind("Secret"), of_kind("ConfigMap")
    for workload, pod, container in containers():
        for e in container.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets_[ref["name"]]["stringData"], f"{workload}: {ref}"
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in maps, workload
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in maps, workload
        mounted = {m["name"] for m in container.get("volumeMounts", [])}
        assert mounted <= {v["name"] for v in pod.get("volumes", [])}, workload


def _environment(name: str, fill: bool) -> dict[str, str]:
    """What the service's container is given: the ConfigMap, its own values, and its Secret's
    (with real-looking secrets in place of the placeholders when `fill`)."""
    container = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    maps, secrets_ = of_kind("ConfigMap"), of_kind("Secret")
    env = {k: str(v) for source in container["envFrom"]
           for k, v in maps[source["configMapRef"]["name"]]["data"].items()}
    sealing = PrivateKey.generate()
    filled = {"database-url": f"postgresql://rebound_{name}:{secrets.token_urlsafe(32)}@db.internal:5432/rebound?sslmode=verify-full",
              "api-keys": f"ops-viewer:{secrets.token_urlsafe(32)},monitoring:{secrets.token_urlsafe(32)}",
              "partner-keys": f"pilot:k1:{secrets.token_hex(32)}",
              "notice-sealing-key": f"k1:{b64encode(bytes(sealing.public_key)).decode()}",
              "notice-opening-keys": f"k1:{b64encode(bytes(sealing)).decode()}",
              "email-events-public-key": EVENTS_KEY}
    for e in container["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            env[e["name"]] = e["value"]
        else:
            shipped = secrets_[ref["name"]]["stringData"][ref["key"]]
            env[e["name"]] = (filled.get(ref["key"]) or secrets.token_urlsafe(32)) if fill else shipped
    return env


# A verification key of SendGrid's kind (ECDSA P-256, base64 DER).
EVENTS_KEY = b64encode(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


@pytest.mark.parametrize("name", SERVICES)
def test_the_settings_given_are_ones_the_service_reads_and_production_starts_on_them(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_class, _ = SERVICES[name]
    for given in (False, True):
        env = _environment(name, fill=given)
        unknown = {k for k in env if k.removeprefix("REBOUND_").lower() not in settings_class.model_fields}
        assert not unknown, f"{name} reads no {unknown}"
        for key in [k for k in os.environ if k.startswith("REBOUND_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        if given:  # filled in, nothing production requires is missing
            settings = settings_class()
            assert settings.in_production and settings.kafka_security_protocol == "SASL_SSL"
        else:  # as shipped, the placeholders are refused: a deployment that forgets one fails closed
            with pytest.raises(ValidationError):
                settings_class()


def test_postgres_is_three_instances_with_a_synchronous_standby_and_archived_backups() -> None:
    """The production path for PostgreSQL (CloudNativePG, as the local Patroni cluster does it):
    a commit acknowledged only once a standby has it, the instances on different Kubernetes nodes,
    every WAL segment archived to an object store that is declared, nightly base backups of this
    cluster, and every Secret it names present with the keys the operator reads."""
    cluster = of_kind("Cluster")["rebound-db"]["spec"]
    assert cluster["instances"] == 3
    assert cluster["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}
    assert cluster["primaryUpdateMethod"] == "switchover"
    assert cluster["affinity"]["podAntiAffinityType"] == "required"
    assert cluster["bootstrap"]["initdb"]["dataChecksums"] is True
    archiver = next(p for p in cluster["plugins"] if p.get("isWALArchiver"))
    store = of_kind("ObjectStore")[archiver["parameters"]["barmanObjectName"]]["spec"]
    assert store["retentionPolicy"]
    secrets_ = of_kind("Secret")
    for ref in store["configuration"]["s3Credentials"].values():
        assert ref["key"] in secrets_[ref["name"]]["stringData"]
    owner = secrets_[cluster["bootstrap"]["initdb"]["secret"]["name"]]
    assert owner["type"] == "kubernetes.io/basic-auth" and {"username", "password"} <= owner["stringData"].keys()
    nightly = of_kind("ScheduledBackup")["rebound-db-nightly"]["spec"]
    assert nightly["cluster"]["name"] == "rebound-db" and nightly["method"] == "plugin"
    assert nightly["pluginConfiguration"]["name"] == archiver["name"]


def test_pods_run_locked_down() -> None:
    for workload, pod, container in containers():
        assert pod["automountServiceAccountToken"] is False, workload
        assert pod["securityContext"]["runAsNonRoot"] is True, workload
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, workload
        assert security["readOnlyRootFilesystem"] is True, workload
        assert security["capabilities"]["drop"] == ["ALL"], workload
        assert "memory" in container["resources"]["limits"], workload


def test_replicas_are_what_the_storm_benchmark_measured_they_need() -> None:
    """Every outcome of the storm day within 60 s at 70 % of each core useful, as the benchmarks page's
    scale-out estimate reasons; no more replicas than the topics' partitions can share out."""
    storm = json.loads(STORM.read_text())
    partitions = int(of_kind("ConfigMap")["rebound-config"]["data"]["REBOUND_TOPIC_PARTITIONS"])
    for name, deployment in of_kind("Deployment").items():
        cores = storm["cpu_ms_per_passenger"]["rebound"][name] * storm["passengers_affected"] / 1000 / 60 / 0.7
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        per_replica = float(container["resources"]["requests"]["cpu"])
        assert deployment["spec"]["replicas"] == max(2, math.ceil(cores / per_replica)), name
        assert deployment["spec"]["replicas"] <= partitions, name


def test_memory_requested_covers_the_storm_day_peak() -> None:
    mebibytes = {"Mi": 1, "Gi": 1024}
    peaks = json.loads(STORM_MEMORY.read_text())["peak_memory_mb"]
    for name, deployment in of_kind("Deployment").items():
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        request, limit = (resources[k]["memory"] for k in ("requests", "limits"))
        request_mb, limit_mb = (int(q[:-2]) * mebibytes[q[-2:]] * 1.048576 for q in (request, limit))
        assert peaks[name] < request_mb < limit_mb, name
