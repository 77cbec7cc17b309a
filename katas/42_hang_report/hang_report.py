"""Kata 42: a hung program: report every stuck task and what it awaits."""

import asyncio
import inspect
import traceback
from dataclasses import dataclass
from types import FrameType


@dataclass(frozen=True)
class Frame:
    """Where one coroutine of a task is suspended."""

    function: str  # the coroutine function's name: "fetch_row"
    file: str  # its source file, as its code object names it (co_filename)
    line: int  # the line it is suspended at: its `await`


@dataclass
class StuckTask:
    """A pending task: the program's coroutines it is in, and what it waits for."""

    name: str  # task.get_name()
    frames: list[Frame]  # innermost first: frames[0] is the line the task is stuck at
    awaits: str  # "task 'b'", "asyncio.Lock.acquire", "asyncio.Queue.get", ..., "a Future"


def hang_report() -> list[StuckTask]:
    """Every pending task of the running loop but the caller, and where and on what it waits.

    `frames`: the program's coroutines the task is suspended in, innermost first (frames[0]
    is the line it waits at, the task's own coroutine comes last); asyncio's own coroutines
    are left out. `awaits`: "task 'NAME'" when it awaits another task; else the asyncio call
    the program made ("asyncio.Lock.acquire", also for `async with lock:`, "asyncio.Event.wait",
    "asyncio.Queue.get", "asyncio.sleep", ...); else "a Future".

    Call it from inside the loop (a task, or a callback such as a signal handler).

    >>> print(format_report(hang_report()))
    task 'ship' awaits asyncio.Lock.acquire
      File "/srv/shop/orders.py", line 12, in ship_order
        async with ledger:
    """
    raise NotImplementedError(
        "write hang_report(): for each pending task but the caller, follow its await chain "
        "(coroutine.cr_await) and name what it waits for"
    )


def format_report(report: list[StuckTask]) -> str:
    """The report for a human: a block per task, in the report's order, each like this:

        task 'ship' awaits asyncio.Lock.acquire
          File "/srv/shop/orders.py", line 12, in ship_order
            async with ledger:

    its heading, then its frames innermost first, each as a traceback prints one (file, line
    and function, then that line of the source).
    """
    raise NotImplementedError(
        "write format_report(): a heading line per task, then its frames as a traceback prints them"
    )


def waits_for_cycle(report: list[StuckTask]) -> list[str]:
    """Stage 2: the names of tasks that await each other in a ring, or [] if there is none.

    Each name in the list awaits the next one ("task 'NAME'" in its `awaits`), and the last
    awaits the first; the ring may start at any of its tasks. A task that awaits a task of the
    ring without being on it is not part of it. A chain of waits that ends (its last task
    awaits no task) is no cycle.
    """
    raise NotImplementedError(
        "write waits_for_cycle(): the names of the tasks that await each other in a ring"
    )
