"""Read IATA Type B messages (MVT, MVA, DIV, ASM, SSM, ACARS OOOI reports; raw SITA traffic with
its envelopes is fine) or IATA AIDX flight leg notifications (XML) from files, and print the flight events they
mean, one JSON line each, or a clear error per message with its line (for AIDX, the FlightLeg's
position):

    python -m services.disruption.messages FILE… [--received-at 2013-02-08T12:00:00Z]

Exit status 1 when any message could not be read."""

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from services.disruption import aidx, iata


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
        body = Path(path).read_bytes()
        if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            results = aidx.parse_xml(body, received_at)
        else:
            results = iata.parse_text(body.decode("utf-8", errors="replace"), received_at)
        for parsed in results:
            if parsed.error:
                failed = True
                print(f"{path}:{parsed.error.line}: {parsed.error.reason}", file=sys.stderr)
            for note in parsed.notes:
                print(f"{path}: {note}", file=sys.stderr)
            for event in parsed.events:
                print(event.model_dump_json(exclude_none=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
