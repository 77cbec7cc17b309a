"""Prints each task's frames the way a traceback does, most recent call last.

caught by: test_format_report_prints_each_task_like_a_traceback_innermost_first
says: most recent call last
"""

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
    caller = asyncio.current_task()
    report = []
    for task in asyncio.all_tasks():  # the pending ones: done tasks are not listed
        if task is caller:
            continue  # the caller is running, not waiting
        # The await chain: the task's coroutine, the coroutine it awaits, and so on down to
        # the one that awaits a future (its cr_await is no coroutine).
        chain: list[FrameType] = []
        awaited: object = task.get_coro()
        while inspect.iscoroutine(awaited) and awaited.cr_frame is not None:
            chain.append(awaited.cr_frame)
            awaited = awaited.cr_await
        in_asyncio = [f for f in chain if f.f_globals["__name__"].startswith("asyncio.")]
        program = [f for f in chain if f not in in_asyncio]
        # The asyncio call the program made: the outermost public one (not a `_helper`).
        calls = [f.f_code.co_qualname for f in in_asyncio if not f.f_code.co_name.startswith("_")]
        # The future the task sleeps on: asyncio keeps it on the task (repr(task) shows it as
        # wait_for=...). When it is a task, that task is the one to look at next.
        waiter = getattr(task, "_fut_waiter", None)
        if isinstance(waiter, asyncio.Task):
            awaits = f"task '{waiter.get_name()}'"
        elif calls:
            awaits = f"asyncio.{calls[0]}"
        else:
            awaits = "a Future"
        frames = [Frame(f.f_code.co_name, f.f_code.co_filename, f.f_lineno) for f in program]
        report.append(StuckTask(task.get_name(), frames[::-1], awaits))  # innermost first
    return report


def format_report(report: list[StuckTask]) -> str:
    """The report for a human: a block per task, in the report's order, each like this:

        task 'ship' awaits asyncio.Lock.acquire
          File "/srv/shop/orders.py", line 12, in ship_order
            async with ledger:

    its heading, then its frames innermost first, each as a traceback prints one (file, line
    and function, then that line of the source).
    """
    blocks = []
    for stuck in report:
        # A traceback's lines: traceback reads each line's source from its file.
        frames = [traceback.FrameSummary(f.file, f.line, f.function) for f in stuck.frames[::-1]]
        heading = f"task '{stuck.name}' awaits {stuck.awaits}\n"
        blocks.append(heading + "".join(traceback.format_list(frames)))
    return "".join(blocks)


def waits_for_cycle(report: list[StuckTask]) -> list[str]:
    """Stage 2: the names of tasks that await each other in a ring, or [] if there is none.

    Each name in the list awaits the next one ("task 'NAME'" in its `awaits`), and the last
    awaits the first; the ring may start at any of its tasks. A task that awaits a task of the
    ring without being on it is not part of it. A chain of waits that ends (its last task
    awaits no task) is no cycle.
    """
    # One arrow per task at most: a task awaits one thing at a time.
    waits_for = {
        stuck.name: stuck.awaits.removeprefix("task '").removesuffix("'")
        for stuck in report
        if stuck.awaits.startswith("task '")
    }
    for start in waits_for:
        # Follow the arrows, keeping the way, until they end or reach a task on the way.
        way: list[str] = []
        name: str | None = start
        while name is not None and name not in way:
            way.append(name)
            name = waits_for.get(name)
        if name is not None:
            return way[way.index(name) :]  # the part of the way that goes round
    return []
