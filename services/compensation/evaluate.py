"""Evaluate cases from the command line: one case, or a JSON array of cases, on stdin.

    python -m services.compensation.evaluate < case.json
    → {"entitlements": [...], "set_aside": [...]}        (an array of those for an array of cases)
"""

import json
import sys

from pydantic import TypeAdapter, ValidationError

from services.compensation import engine, rules
from services.compensation.case import Case, CaseOrCases
from services.compensation.config import CompensationSettings

_CASES: TypeAdapter[Case | list[Case]] = TypeAdapter(CaseOrCases)


def main() -> int:
    try:
        cases = _CASES.validate_json(sys.stdin.buffer.read())
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"][1:]) or "(the input)"
            print(f"invalid case: {where}: {error['msg']}", file=sys.stderr)
        return 2
    book = rules.load(CompensationSettings().rules_dir)
    results = [engine.evaluate(case, book).model_dump(mode="json")
               for case in (cases if isinstance(cases, list) else [cases])]
    json.dump(results if isinstance(cases, list) else results[0], sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
