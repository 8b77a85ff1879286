"""Evaluate cases from the command line: one case, or a JSON array of cases, on stdin.

    python -m services.compensation.evaluate [--rules DIR] < case.json
    → {"entitlements": [...], "set_aside": [...]}        (an array of those for an array of cases)

Pure: the engine and the rule book alone (the shipped rules, or `--rules`), so it reads no
service setting and needs no secret, in any environment.
"""

import argparse
import json
import sys
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from services.compensation import engine, rules
from services.compensation.case import Case, CaseOrCases

_CASES: TypeAdapter[Case | list[Case]] = TypeAdapter(CaseOrCases)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.compensation.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=Path, default=rules.HERE, help="the rule files' directory")
    args = parser.parse_args(argv)
    try:
        cases = _CASES.validate_json(sys.stdin.buffer.read())
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"][1:]) or "(the input)"
            print(f"invalid case: {where}: {error['msg']}", file=sys.stderr)
        return 2
    book = rules.load(args.rules)
    results = [engine.evaluate(case, book).model_dump(mode="json")
               for case in (cases if isinstance(cases, list) else [cases])]
    json.dump(results if isinstance(cases, list) else results[0], sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
