"""The reference pages of the documentation site, generated from the code, so that none can drift
from what runs: every setting (from the settings classes and the comments above their fields),
the HTTP API (each service's OpenAPI), the event contract (the topics and the AsyncAPI schemas),
the metrics (the Prometheus registry), the command-line tools (their own --help) and the fault
kinds (the harness's tables). `docs/gen_pages.py` writes them when mkdocs builds the site."""

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("disruption", "rebooking", "compensation", "notify")
# The command-line tools a reader may run, in the order a newcomer meets them.
COMMANDS = (
    "bench.run", "bench.small_scenario", "bench.first_notice_latency", "bench.rebooking_nemo", "bench.audit",
    "bench.scenario", "faults", "services.disruption.messages", "services.compensation.evaluate", "shared.compat",
    "deploy.kafka_access", "deploy.post_deploy", "docs.console_screenshot",
)


def pages() -> Iterator[tuple[str, str]]:
    """(path in the site, Markdown) for every generated page."""
    yield "reference/system.md", system_page()
    yield "reference/settings.md", settings_page()
    yield "reference/http-api.md", http_page()
    yield "reference/events.md", events_page()
    yield "reference/metrics.md", metrics_page()
    yield "reference/commands.md", commands_page()
    yield "reference/fault-kinds.md", fault_kinds_page()
    for service in SERVICES:
        yield f"services/{service}.md", service_page(service)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# The system --------------------------------------------------------------------------------------

def system_page() -> str:
    from shared import system
    lines = ["flowchart LR"]
    for topic in dict.fromkeys(t for part in system.SYSTEM for t in (*part.reads, *part.writes)):
        lines.append(f'  {topic.replace("-", "_")}[["{topic}"]]')
    for part in system.SYSTEM:
        shape = f'  {part.name}["{part.name}"]' if part.groups else f'  {part.name}(["{part.name}"])'
        lines.append(shape)
        lines += [f'  {part.name} --> {t.replace("-", "_")}' for t in part.writes]
        lines += [f'  {t.replace("-", "_")} --> {part.name}' for t in part.reads]
    groups = [(f"`{p.name}`", f"`{g.purpose}`", ", ".join(f"`{t}`" for t in g.topics), f"`<prefix>{p.name}{g.suffix}`")
              for p in system.SYSTEM for g in p.groups]
    queues = [(f"`{p.name}`", f"`{q.table}`", f"`{q.channel}`", f"`{q.worker}`")
              for p in system.SYSTEM for q in p.queues]
    return "\n".join([
        "# The system, declared once\n",
        "Generated from `shared/system.py`, the one declaration of what each service reads, writes and keeps "
        "queued. The Kafka ACLs (`deploy/kafka_access.py`), the AsyncAPI operations and this page are made from "
        "it; `tests/unit/test_system.py` holds every bootstrap's routes, every publish, every wake-up channel and "
        "every migration's trigger to it.\n",
        "## Who writes and reads each topic\n",
        "Services are boxes; the systems that feed Rebound are rounded; topics are framed.\n",
        "```mermaid\n" + "\n".join(lines) + "\n```\n",
        "## Consumer groups\n",
        "Each group reads its topics in a loop of its own: a flood on one never waits behind the other "
        "(first notices and flight events have groups of their own).\n",
        _table(("service", "group", "reads", "Kafka group id"), groups),
        "## Queues\n",
        "Work kept in a table and done outside any consumer's transaction, its worker woken by PostgreSQL "
        "`NOTIFY` on the channel.\n",
        _table(("service", "table", "wake-up channel", "worker"), queues),
    ])


# Settings ----------------------------------------------------------------------------------------

def _settings_classes() -> list[tuple[str, type]]:
    from shared.settings import Settings
    classes: list[tuple[str, type]] = [("every service", Settings)]
    for service in SERVICES:
        config = importlib.import_module(f"services.{service}.config")
        cls = next(c for c in vars(config).values()
                   if isinstance(c, type) and issubclass(c, Settings) and c is not Settings)
        classes.append((service, cls))
    return classes


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment: the comment lines just above it, and one at the end of its line."""
    source = textwrap.dedent(inspect.getsource(cls)).splitlines()
    body = ast.parse("\n".join(source)).body[0]
    assert isinstance(body, ast.ClassDef)
    comments: dict[str, str] = {}
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)) \
                or node.target.id not in getattr(cls, "model_fields", {}):
            continue
        above: list[str] = []
        line = node.lineno - 2
        while line >= 0 and source[line].strip().startswith("#"):
            above.insert(0, source[line].strip().lstrip("#").strip())
            line -= 1
        inline = source[node.lineno - 1].partition("  # ")[2].strip()
        comments[node.target.id] = " ".join(filter(None, (*above, inline)))
    return comments


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(annotation))
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        return _type_name(args[0]) + " (optional)"
    return getattr(annotation, "__name__", str(annotation))


def _default(value: Any) -> str:
    if value is None or value == "":
        return "—"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"`{text[:37]}…`" if len(text) > 40 else f"`{text}`"


def production_rule(cls: type, name: str) -> str:
    """What production asks of the setting, from the class's own declarations."""
    if name in getattr(cls, "DEVELOPMENT_SECRETS", ()):
        return "set; 32+ characters"
    if name in getattr(cls, "OUTBOUND_URLS", ()):
        return "https:// only"
    return str(vars(cls).get("PRODUCTION_REQUIRES", {}).get(name, ""))


def settings_page() -> str:
    out = ["# Settings\n",
           "Generated from the settings classes (`shared/settings.py` and each service's `config.py`): every "
           "setting is an environment variable, read once at start-up. Unset, `REBOUND_ENVIRONMENT` means "
           "production, which refuses to start on any development secret or an insecure transport, naming the "
           "setting and the reason, never the value. The last column says what production requires.\n"]
    for owner, cls in _settings_classes():
        comments = field_comments(cls)
        own = list(comments)
        rows = [(f"`REBOUND_{n.upper()}`", _type_name(cls.model_fields[n].annotation),  # type: ignore[attr-defined]
                 _default(cls.model_fields[n].default), production_rule(cls, n), comments[n])  # type: ignore[attr-defined]
                for n in own]
        out += [f"## {owner.capitalize()}\n", f"`{cls.__module__}.{cls.__name__}`\n",
                _table(("variable", "type", "default", "in production", "what it is"), rows)]
    return "\n".join(out)


# HTTP API ----------------------------------------------------------------------------------------

def _app(service: str) -> Any:
    os.environ.setdefault("REBOUND_ENVIRONMENT", "development")
    return importlib.import_module(f"services.{service}.bootstrap").create_app()


def http_page() -> str:
    out = ["# HTTP API\n",
           "Generated from each service's OpenAPI description (FastAPI's, served at `/docs` and `/openapi.json` "
           "in development and test). Every refusal is an `application/problem+json` document; every operation "
           "but the health checks, the choice page and partner ingest (signed instead) takes a bearer key of "
           "the role named. Besides these, each service serves `/healthz`, `/readyz` and `/metrics`.\n"]
    for service in SERVICES:
        document = _app(service).openapi()
        rows = []
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                summary = operation.get("summary", "")
                described = (operation.get("description") or "").strip().split("\n\n")[0]
                codes = ", ".join(sorted(operation.get("responses", {})))
                rows.append((f"`{method.upper()} {path}`", summary, described, codes))
        out += [f"## {service}\n", _table(("operation", "summary", "what it does", "answers"), rows)]
    return "\n".join(out)


# Events ------------------------------------------------------------------------------------------

def _kind(prop: dict[str, Any]) -> str:
    """A JSON schema's type as a reader says it: a model links to its section."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " or ".join(f"`{v}`" for v in prop["enum"])
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in prop:
            return " or ".join(_kind(p) for p in prop[combined] if p.get("type") != "null")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_kind(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map to {_kind(prop['additionalProperties'])}"
    return str(kind) + (f" ({prop['format']})" if "format" in prop else "")


def _schema_rows(schema: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    required = set(schema.get("required", ()))
    return [(f"`{name}`", _kind(prop), "yes" if name in required else "", prop.get("description", ""))
            for name, prop in schema.get("properties", {}).items()]


def events_page() -> str:
    from shared import contract, system, topics
    from shared.events import type_name
    out = ["# Events and topics\n",
           "Generated from `shared/topics.py` and the event models (`shared/events.py`), as the AsyncAPI 3.1 "
           "document is (`/asyncapi.json` on the disruption service in development and test). Every event is a "
           "CloudEvents 1.0 envelope whose `data` is the model below. Every topic has a dead-letter topic "
           "`<topic>.dlq` that each of its readers writes. Readers ignore fields they do not know, so a release "
           "may add optional fields: `contracts/release.json` is the last release's contract, checked both ways.\n",
           "## Topics\n"]
    rows = []
    for topic in topics.ALL:
        readers = ", ".join(s for s, t in system.READS.items() if topic in t)
        writers = ", ".join(s for s, t in system.WRITES.items() if topic in t)
        types = ", ".join(f"`{type_name(m)}`" for m in topics.CARRIES[topic])
        rows.append((f"`{topic}`", topics.DESCRIPTIONS[topic], types, writers, readers, topics.KEYS[topic],
                     topics.configs(topic)["cleanup.policy"]))
    out.append(_table(("topic", "what it carries", "event types", "written by", "read by", "key", "cleanup"), rows))
    schemas = contract.components()
    out.append("## Event data\n")
    for name in sorted(schemas):
        schema = schemas[name]
        if "properties" not in schema:
            continue
        description = (schema.get("description") or "").strip().split("\n\n")[0].replace("\n", " ")
        out += [f"### {name}\n", f"{description}\n" if description else "",
                _table(("field", "type", "required", "what it is"), _schema_rows(schema))]
    return "\n".join(out)


# Metrics -----------------------------------------------------------------------------------------

def metrics_page() -> str:
    from prometheus_client.metrics import MetricWrapperBase
    modules = ["shared.metrics"] + [f"services.{s}.metrics" for s in SERVICES if
                                    (ROOT / "services" / s / "metrics.py").exists()]
    rows = []
    for module in modules:
        owner = module.split(".")[1] if module.startswith("services") else "every service"
        for metric in vars(importlib.import_module(module)).values():
            if isinstance(metric, MetricWrapperBase) and metric._name.startswith("rebound_"):
                kind = metric._type
                name = metric._name + ("_total" if kind == "counter" else "")
                rows.append((f"`{name}`", kind, ", ".join(f"`{x}`" for x in metric._labelnames), owner,
                             metric._documentation))
    rows.sort(key=lambda r: (r[3] != "every service", r[3], r[0]))
    return "\n".join(["# Metrics\n",
                      "Generated from the metric modules (`shared/metrics.py`, `services/*/metrics.py`). Each "
                      "service serves its own and the shared ones at `/metrics`, to a `monitoring` key.\n",
                      _table(("metric", "type", "labels", "served by", "what it measures"), rows)])


# Commands ----------------------------------------------------------------------------------------

def _make_targets() -> list[tuple[str, str]]:
    """Each make target with the comment above its rule (past the variables set for it)."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    setting = re.compile(r"^([a-z-]+: )?[A-Z_]+ \?=")
    targets: dict[str, str] = {}
    for n, line in enumerate(lines):
        if (m := re.match(r"^([a-z][a-z-]*):(?!=)", line)) and not setting.match(line) and m[1] not in targets:
            comment: list[str] = []
            k = n - 1
            while k >= 0 and (lines[k].startswith("#") or setting.match(lines[k])):
                if lines[k].startswith("#"):
                    comment.insert(0, lines[k].lstrip("#").strip())
                k -= 1
            targets[m[1]] = " ".join(comment)
    return list(targets.items())


def _help(module: str) -> str:
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "REBOUND_ENVIRONMENT": "development", "COLUMNS": "100"})
    if result.returncode != 0:
        raise RuntimeError(f"python -m {module} --help failed: {result.stderr[-500:]}")
    return result.stdout.rstrip()


def commands_page() -> str:
    out = ["# Commands\n", "## make\n",
           "Generated from the `Makefile` (each target and the comment above it).\n",
           _table(("target", "what it does"), [(f"`make {t}`", c) for t, c in _make_targets()]),
           "## Python tools\n", "Each tool's own `--help`, run when the site was built.\n"]
    for module in COMMANDS:
        out += [f"### `python -m {module}`\n", "```text\n" + _help(module) + "\n```\n"]
    return "\n".join(out)


# Fault kinds -------------------------------------------------------------------------------------

def fault_kinds_page() -> str:
    from faults import harness, poison
    rows = [(f"`{kind}`", lane, description) for lane, kinds in harness.FAULT_KINDS.items()
            for kind, description in kinds.items()]
    poisons = [(f"`poison_{kind}`", poison.ENDS[kind], poison.DESCRIPTIONS[kind]) for kind in poison.KINDS]
    return "\n".join(["# Fault kinds\n",
                      "Generated from the fault harness (`faults/harness.py`, `faults/poison.py`). `make faults` "
                      "injects each kind at least `PER_KIND` times (20) while a sampled day is replayed, then "
                      "audits; `make faults-short` twice each, as CI does. Broker kinds run on a three-broker "
                      "cluster only.\n",
                      _table(("kind", "where", "what happens"), rows),
                      "## Poison records\n",
                      "Sent to every topic; each must end as its kind says: on the topic's dead-letter topic with "
                      "its reason, parked by every service that reads the topic, or refused by the broker.\n",
                      _table(("kind", "must end", "what it is"), poisons)])


# Services ----------------------------------------------------------------------------------------

def service_page(service: str) -> str:
    """The service folder's own README (it names files as code, never as links out of the site)."""
    return (ROOT / "services" / service / "README.md").read_text()
