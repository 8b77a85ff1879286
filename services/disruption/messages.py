"""Read IATA MVT/ASM messages from files and print the flight events they mean, one JSON line
each, or a clear error per message with its line:

    python -m services.disruption.messages FILE… [--received-at 2013-02-08T12:00:00Z]

Exit status 1 when any message could not be read."""

import argparse
import sys
from datetime import UTC, datetime

from services.disruption import iata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.disruption.messages",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--received-at", type=datetime.fromisoformat, default=datetime.now(UTC),
                        help="when the messages arrived (dates them; default: now)")
    args = parser.parse_args(argv)
    received_at = args.received_at if args.received_at.tzinfo else args.received_at.replace(tzinfo=UTC)
    failed = False
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for parsed in iata.parse_text(text, received_at):
            if parsed.error:
                failed = True
                print(f"{path}:{parsed.error.line}: {parsed.error.reason}", file=sys.stderr)
            for event in parsed.events:
                print(event.model_dump_json(exclude_none=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
