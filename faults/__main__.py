import asyncio

from faults.harness import main

raise SystemExit(asyncio.run(main()))
