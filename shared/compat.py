"""Whether the event contract of this release and of the last one can share a topic, both ways, as a
schema registry's FULL_TRANSITIVE mode asks (Confluent Schema Registry, "Schema Evolution and
Compatibility"): a reader of this release reads what the last one wrote (backward), and a reader
of the last release reads what this one writes (forward). Replicas of both run side by side during
a rolling upgrade, so either failing dead-letters real events.

Each payload type's JSON Schema is taken twice from pydantic: as written (serialization) and as
read (validation). A writer's schema is compatible with a reader's when every value the writer can
produce, the reader accepts: every field the reader requires is one the writer always writes, a
field the writer adds is one the reader may ignore, and each value's type, enumeration, pattern,
format and bounds fit within the reader's.

    python -m shared.compat --release     (record this release's schemas: contracts/release.json)
    python -m shared.compat               (this release against the recorded one; exit 1 if broken)

Narrowings made on purpose (a pattern where any string was taken) are accepted in
contracts/accepted.toml, each with why no release ever wrote a value the narrowing refuses."""

import argparse
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from shared import system, topics
from shared.events import type_name

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
RELEASE = CONTRACTS / "release.json"
ACCEPTED = CONTRACTS / "accepted.toml"

Schema = dict[str, Any]


def current() -> dict[str, Any]:
    """This release's contract: for each payload type, its schemas as written and as read, and the
    topics it travels on."""
    types = {}
    for model in topics.all_payloads():
        adapter = TypeAdapter(model)
        types[type_name(model)] = {
            "serialization": adapter.json_schema(mode="serialization"),
            "validation": adapter.json_schema(mode="validation"),
            "topics": [t for t in topics.ALL if model in topics.CARRIES[t]],
        }
    return {"types": types}


def breaks(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every way the two releases' contracts cannot share a topic, each as `type: path: what`."""
    found = []
    for name, before in old["types"].items():
        after = new["types"].get(name)
        if after is None:
            found.append(f"{name}: (type): removed, and the last release still writes it")
            continue
        found += [f"{name}: {p}: the new reader refuses what the last release wrote: {why}"
                  for p, why in _fits(before["serialization"], after["validation"])]
        found += [f"{name}: {p}: the last release's reader refuses what this one writes: {why}"
                  for p, why in _fits(after["serialization"], before["validation"])]
    # A topic new in this release has no reader of the last release: what is written there waits
    # for this release's readers, and nothing is dead-lettered.
    known = {t for before in old["types"].values() for t in before["topics"]}
    for name, after in new["types"].items():
        if name not in old["types"]:
            moved = [t for t in after["topics"] if t in known and any(t in r for r in system.READS.values())]
            found += [f"{name}: (type): new on {t}, whose readers in the last release dead-letter types "
                      "they do not know: send it from the release after readers know it" for t in moved]
    return found


def _fits(writer: Schema, reader: Schema) -> Iterator[tuple[str, str]]:
    yield from _compare(writer, writer.get("$defs", {}), reader, reader.get("$defs", {}), "")


def _resolve(schema: Schema, defs: Schema) -> Schema:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _alternatives(schema: Schema, defs: Schema) -> list[Schema]:
    schema = _resolve(schema, defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [a for alt in schema[key] for a in _alternatives(alt, defs)]
    return [schema]


def _compare(w: Schema, wdefs: Schema, r: Schema, rdefs: Schema, path: str) -> Iterator[tuple[str, str]]:
    readers = _alternatives(r, rdefs)
    for alt in _alternatives(w, wdefs):
        problems = [list(_leaf(alt, wdefs, each, rdefs, path)) for each in readers]
        if all(problems):  # no reader alternative takes this writer alternative
            yield from min(problems, key=len)


def _types(schema: Schema) -> set[str]:
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return {{str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}.get(
            type(v), "object") for v in values}
    given = schema.get("type", [])
    return set(given if isinstance(given, list) else [given])


def _leaf(w: Schema, wdefs: Schema, r: Schema, rdefs: Schema, path: str) -> Iterator[tuple[str, str]]:
    wt, rt = _types(w), _types(r)
    if rt and wt and not wt <= (rt | ({"integer"} if "number" in rt else set())):
        yield path or "(root)", f"{sorted(wt)} where {sorted(rt)} is read"
        return
    if not wt and rt:
        yield path or "(root)", f"any value where {sorted(rt)} is read"
        return
    yield from _values(w, r, path)
    if "object" in rt or "properties" in r:
        yield from _object(w, wdefs, r, rdefs, path)
    if "array" in rt and "items" in r:
        yield from _compare(w.get("items", {}), wdefs, r["items"], rdefs, f"{path}[]")


def _values(w: Schema, r: Schema, path: str) -> Iterator[tuple[str, str]]:
    here = path or "(root)"
    yield from ((here, problem) for problem in (*_enumerations(w, r), *_patterns(w, r), *_bounds(w, r)))


def _enumerations(w: Schema, r: Schema) -> Iterator[str]:
    if "enum" in r or "const" in r:
        allowed = set(map(json.dumps, [r["const"]] if "const" in r else r["enum"]))
        written = set(map(json.dumps, [w["const"]] if "const" in w else w.get("enum", [])))
        if not written or not written <= allowed:
            yield f"values {sorted(written - allowed) or 'of any kind'} where only {sorted(allowed)} are read"


def _patterns(w: Schema, r: Schema) -> Iterator[str]:
    for key in ("pattern", "format"):
        if key in r and w.get(key) != r[key] and not ("enum" in w or "const" in w):
            yield f"{key} {r[key]!r} is required of a value written with {w.get(key)!r}"


def _bounds(w: Schema, r: Schema) -> Iterator[str]:
    for key, tighter in (("maxLength", min), ("maxItems", min), ("maximum", min), ("exclusiveMaximum", min),
                         ("minLength", max), ("minItems", max), ("minimum", max), ("exclusiveMinimum", max)):
        if key in r and (key not in w or tighter(w[key], r[key]) != w[key]):
            yield f"{key} {r[key]} is required of a value written with {w.get(key)}"


def _object(w: Schema, wdefs: Schema, r: Schema, rdefs: Schema, path: str) -> Iterator[tuple[str, str]]:
    wprops, rprops = w.get("properties", {}), r.get("properties", {})
    for name in r.get("required", []):
        if name not in w.get("required", []):
            yield f"{path}.{name}".lstrip("."), "required by the reader, not always written"
    for name in wprops:
        if name not in rprops and r.get("additionalProperties") is False:
            yield f"{path}.{name}".lstrip("."), "written, and the reader refuses fields it does not know"
    for name in wprops.keys() & rprops.keys():
        yield from _compare(wprops[name], wdefs, rprops[name], rdefs, f"{path}.{name}".lstrip("."))


def accepted() -> dict[str, str]:
    """Breaks made on purpose, each with why it loses nothing: break → why."""
    return {a["break"]: a["why"] for a in tomllib.loads(ACCEPTED.read_text())["accepted"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", action="store_true", help="record this release's contract")
    args = parser.parse_args()
    if args.release:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        RELEASE.write_text(json.dumps({"release": commit} | current(), indent=1, sort_keys=True) + "\n")
        print(f"recorded {RELEASE}")
        return
    unaccepted = [b for b in breaks(json.loads(RELEASE.read_text()), current()) if b not in accepted()]
    print("\n".join(unaccepted) or "compatible with the last release, both ways")
    sys.exit(1 if unaccepted else 0)


if __name__ == "__main__":
    main()
