"""Validation errors in the sender's own terms: the path to the field in what they sent
(`events[3].flight.number`, and as a JSON Pointer, `/3/flight/number`), never the validator's
internal names (`tagged-union[…]`, `function-after[…]`, a union's tag)."""

from collections.abc import Mapping, Sequence
from typing import Any

# pydantic's wording, where the sender's would be plainer.
_PREFIXES = ("Value error, ", "Assertion failed, ")


def located(loc: tuple[str | int, ...], value: Any, missing: bool = False) -> list[str | int]:
    """The part of a pydantic `loc` that names places in `value`, the input itself: everything
    else in it is the name of a validator or of a union member. A missing field is named too."""
    path: list[str | int] = []
    for i, step in enumerate(loc):
        if isinstance(value, dict) and isinstance(step, str) and step in value:
            path.append(step)
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            path.append(step)
            value = value[step]
        elif missing and i == len(loc) - 1 and isinstance(value, dict) and isinstance(step, str):
            path.append(step)
    return path


def path_text(path: list[str | int], root: str = "") -> str:
    """`[3, "flight", "number"]` → `events[3].flight.number` (root `events`), `flight.number`."""
    text = root
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "(the whole body)"


def pointer(path: list[str | int]) -> str:
    """RFC 6901 JSON Pointer."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in path)


def message(error: Mapping[str, Any]) -> str:
    text: str = error["msg"]
    for prefix in _PREFIXES:
        text = text.removeprefix(prefix)
    if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        text = "Input should be an object"  # not "… or instance of FlightRef": a class is ours, not theirs
    if error["type"] == "union_tag_not_found":
        text = f"`{error.get('ctx', {}).get('discriminator', 'type')}` is missing: it names the kind of event"
    return text


def field_errors(errors: Sequence[Mapping[str, Any]], value: Any, root: str = "") -> list[dict[str, str]]:
    """pydantic's errors about `value` → `{"field", "pointer", "message"}` for a problem body.
    `root` names a body that is a list (`events`), so its items read `events[3]`."""
    found = []
    for e in errors:
        path = located(tuple(e["loc"]), value, missing=e["type"] == "missing")
        found.append({"field": path_text(path, root if path and isinstance(path[0], int) else ""),
                      "pointer": pointer(path), "message": message(e)})
    return found


def summary(errors: list[dict[str, str]], limit: int = 800) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)[:limit]
