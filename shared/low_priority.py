"""Work that must never be ahead of the live path, such as a what-if preview: run on a thread of
its own that the kernel schedules only when nothing else wants the CPU (nice 19 applies to one
Linux thread alone), so the flight events, first notices and rounds of every service on the
machine go first."""

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
LOWEST = 19


def _lowered() -> None:
    # Not everywhere a thread's own priority can be set (it can on Linux, where this runs).
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST)


# One thread per process: previews asked at once take turns rather than take more of the machine.
_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="low-priority", initializer=_lowered)


async def run(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args, **kwargs)` on the low-priority thread."""
    return await asyncio.get_running_loop().run_in_executor(_THREAD, functools.partial(work, *args, **kwargs))
