"""Generic probes a kata test switches on in one line, each failing with a message that names
what the run showed:

- `Wakeups(call)` counts how many times the task awaiting `call` was woken up: a call that should
  wait (on a lock, an event, a barrier, a queue) wakes once; one that polls wakes again and again;
- `started_tasks()` records every task created while its block runs (with their wake-ups), so a
  test can say which of them polled, or were still running when they should have finished;
- `cancel_midway(call, after)` cancels a caller part-way and checks that it ended cancelled and
  that every task it started had finished by the time the cancellation reached it, cancelled
  rather than waited out;
- `left_running_after(call, within, error=...)` runs a call that should fail with the error
  the test injected, and fails if it raised it while tasks it started were still running,
  naming each one and where it waits;
- `awaiting(task)` walks a suspended task's await chain (its coroutines, outermost first), and
  `waiting_at(task, module)` says from it the line of the learner's module it is stopped at;
- `collect_garbage()` runs the collector now, in a step of its own: what nobody holds is gone
  after it (the guard turns automatic collections off while a test runs).
"""

from __future__ import annotations

import asyncio
import gc
import linecache
import sys
from collections.abc import Awaitable, Coroutine, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Generic, TypeVar, cast

import pytest

from _harness.outcomes import still_running
from _harness.timeline import Timeline, scaled

T = TypeVar("T")


class Wakeups:
    """Awaits `call` and counts how many times its task was woken up: a probe, no clock."""

    def __init__(self, call: Awaitable[Any]) -> None:
        self.call = call
        self.woken = 0

    def __await__(self) -> Generator[Any, Any, Any]:
        inner: Any = self.call.__await__()
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                signal = inner.send(sent) if thrown is None else inner.throw(thrown)
            except StopIteration as done:
                return done.value
            try:
                sent, thrown = (yield signal), None
            except BaseException as error:  # a cancellation: pass it on to the call
                sent, thrown = None, error
            self.woken += 1


class StartedTasks:
    """The tasks created while a `started_tasks()` block ran, in creation order, each with the
    asyncio call that made it (`origins`: "asyncio.gather", "TaskGroup.create_task", ...)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self.origins: dict[asyncio.Task[Any], str] = {}
        self.wakeups: dict[asyncio.Task[Any], Wakeups] = {}

    def describe(self, task: asyncio.Task[Any]) -> str:
        """'fetch() (started by asyncio.gather)': the task as a message names it."""
        return f"{_name(task)}() (started by {self.origins.get(task, 'an unknown call')})"

    def still_running(self) -> list[asyncio.Task[Any]]:
        return [task for task in self.tasks if not task.done()]

    def expect_no_polling(
        self, most: int, what: str, wait_on: str, timeline: Timeline | None = None
    ) -> None:
        """No task woke up more than `most` times: a waiting task wakes when it may go on.

        `most` counts every wake-up of the task, its own work's included: allow for those.
        """
        __tracebackhide__ = True
        busy = [(w.woken, task) for task, w in self.wakeups.items() if w.woken > most]
        if not busy:
            return
        woken, task = max(busy, key=lambda pair: pair[0])
        picture = f"\n\n{timeline.draw()}" if timeline is not None else ""
        pytest.fail(
            f"Polling: the task running {_name(task)}() was woken up {woken:,} times in {what}, "
            f"where waiting takes at most {most}. It checks again and again, with an `await` "
            "(asyncio.sleep) in between, instead of sleeping until it may go on: that keeps the "
            "event loop spinning, burns CPU, and each check comes late.\n"
            f"Expected: at most {most} wake-ups; the task sleeps until it may go on.\n"
            f"Try: wait on {wait_on}, which wakes the task once, when it is time.{picture}",
            pytrace=False,
        )


@contextmanager
def started_tasks(count_wakeups: bool = False) -> Iterator[StartedTasks]:
    """Record every task created in this block (through the loop's task factory).

    With `count_wakeups`, each task's coroutine runs inside a `Wakeups` probe (see
    `StartedTasks.expect_no_polling`). Chains the factory in place (eager tasks, stress mode).
    """
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    started = StartedTasks()

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        origin = _asyncio_call(sys._getframe(1))
        probe = None
        if count_wakeups:
            probe = Wakeups(coro)
            coro = _counted(probe, coro)
        if previous is not None:
            task = cast(asyncio.Task[Any], previous(loop, coro, **kwargs))
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        started.tasks.append(task)
        started.origins[task] = origin
        if probe is not None:
            started.wakeups[task] = probe
        return task

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        yield started
    finally:
        loop.set_task_factory(previous)


@contextmanager
def task_origins() -> Iterator[dict[asyncio.Task[Any], str]]:
    """The asyncio call that started each task created in this block ("asyncio.gather")."""
    with started_tasks() as started:
        yield started.origins


def _counted(probe: Wakeups, inner: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    async def counted() -> Any:
        return await probe

    wrapper = counted()
    wrapper.__name__ = inner.__name__  # type: ignore[attr-defined]  # messages name the inner one
    wrapper.__qualname__ = inner.__qualname__  # type: ignore[attr-defined]
    return wrapper


async def cancel_midway(
    call: Coroutine[Any, Any, Any], after: float, what: str, timeline: Timeline | None = None
) -> StartedTasks:
    """Run `call` in a task, cancel it after `after` seconds (scaled), and check how it ended.

    It must end cancelled (its CancelledError not swallowed), and every task it started must
    have finished (cancelled and awaited) by the time the cancellation reached it: a task still
    running at the cancel that then ran to its end was waited out, not stopped. Returns the
    tasks it started, for the test's own checks (resources given back, and so on).
    """
    __tracebackhide__ = True
    with started_tasks() as started:
        caller = asyncio.create_task(call)
        await asyncio.sleep(scaled(after))
    started.tasks.remove(caller)
    if caller.done():  # it ended before the cancel: nothing of a cancellation to check
        if not caller.cancelled() and caller.exception() is not None:
            raise caller.exception()  # type: ignore[misc]  # its own error, as it was raised
        pytest.fail(
            f"{what} {_ended(caller)} within {scaled(after):.2f} s, before the test could cancel "
            "it: it should still have been at work then.\n"
            "Expected: still running, so that the test can cancel it mid-way.\n"
            "Try: await the work itself before you return.",
            pytrace=False,
        )
    where = _while_at(caller)
    running = started.still_running()
    cancelled_at = asyncio.get_running_loop().time()
    caller.cancel()
    await asyncio.wait({caller})
    took = asyncio.get_running_loop().time() - cancelled_at
    left = started.still_running()
    picture = f"\n\n{timeline.draw()}" if timeline is not None else ""
    if left:
        for task in left:  # reported here; stopped so the guard does not report them again
            task.cancel()
        await asyncio.wait(left, timeout=scaled(1.0))
        names = ", ".join(started.describe(t) for t in left)
        pytest.fail(
            f"{what} was cancelled after {scaled(after):.2f} s{where}. When the cancellation "
            f"reached it, {len(left)} of the {len(started.tasks)} task(s) it had started were "
            f"still running: {names}.\n"
            "Expected: a cancelled caller stops what it started and waits for it before its "
            "own CancelledError goes on up; nothing it started outlives it.\n"
            "Try: start the tasks in `async with asyncio.TaskGroup()`, which cancels and awaits "
            "them for you; or, in `finally:`, cancel each one and await them "
            f"(asyncio.gather(*tasks, return_exceptions=True)).{picture}",
            pytrace=False,
        )
    waited_out = [task for task in running if not task.cancelled()]
    if waited_out:
        pytest.fail(
            f"{what} was cancelled after {scaled(after):.2f} s{where}, and it took {took:.2f} s "
            f"more to end: {_waited_out(waited_out, started)}\n"
            "Expected: a cancelled caller cancels what it started, then waits for it: the work "
            "nobody will use stops at once.\n"
            "Try: start the tasks in `async with asyncio.TaskGroup()`, which does both for you; "
            "or, in `finally:`, call task.cancel() on each one before you await them "
            f"(asyncio.gather(*tasks, return_exceptions=True)).{picture}",
            pytrace=False,
        )
    if not caller.cancelled():
        pytest.fail(
            f"{what} was cancelled after {scaled(after):.2f} s{where}, but it {_ended(caller)} "
            "instead "
            "of ending cancelled: the CancelledError was swallowed on the way.\n"
            "Expected: the caller's CancelledError goes on up once the clean-up is done.\n"
            "Try: clean up in `finally:` (or `except asyncio.CancelledError: ...; raise`), never "
            f"`except asyncio.CancelledError: pass` or `return` there.{picture}",
            pytrace=False,
        )
    return started


@dataclass
class Ran(Generic[T]):
    """How a call that `left_running_after` ran ended: what it returned, what it raised (the
    test's own error when it came alone or inside an ExceptionGroup), or that it ran out of
    time (`timed_out`: it was cancelled then, and `raised` is the TimeoutError)."""

    returned: T | None = None
    raised: Exception | None = None
    timed_out: bool = False


async def left_running_after(
    call: Coroutine[Any, Any, T],
    within: float,
    *,
    error: Exception,
    what: str,
    module: ModuleType,
    why: str,
    failed: str,
    expected: str,
    advice: str,
    timeline: Timeline | None = None,
) -> Ran[T]:
    """Run `call`, which should raise `error` (a failure the test injects), for `within`
    seconds (scaled) at most, and fail if it raised that error while tasks it started were
    still running: each named with the line of `module` it waits at.

    The message says `what` raised it, leaving those tasks, then `why` nothing stops them now;
    when asyncio.gather started them all, that gather raised `failed` ("go()'s error") as it
    came and cancels nothing; then `expected` and `advice` (after "Try: "). Whatever the call
    left running is cancelled before the probe returns, so the guard does not report it again.
    Returns how the call ended, for the test's own checks (a timeout, an error lost).
    """
    __tracebackhide__ = True
    before = asyncio.all_tasks()
    ran: Ran[T] = Ran()
    deadline = asyncio.timeout(scaled(within))
    with started_tasks() as started:
        try:
            async with deadline:
                ran.returned = await call
        except Exception as raised:
            ran.raised, ran.timed_out = raised, deadline.expired()
    if isinstance(ran.raised, ExceptionGroup) and ran.raised.subgroup(lambda e: e is error):
        ran.raised = error  # a TaskGroup's ExceptionGroup holding the test's error
    left = still_running(before)  # right after the call ended: no await since
    waiting = [f"{started.describe(t)}, waiting at {_waits_at(t, module)}" for t in left]
    picture = f"\n\n{timeline.draw()}" if timeline is not None else ""  # before the cancel
    for task in left:  # reported below; stopped so the guard does not report them again
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=scaled(1.0))
    if ran.raised is error and left:
        gathered = all(started.origins.get(t) == "asyncio.gather" for t in left)
        pytest.fail(
            f"{what} raised it, leaving {len(left)} task(s) it started still running: "
            f"{'; '.join(waiting)}. {why}\n"
            + (
                f"asyncio.gather raised {failed} as it came, and it cancels nothing: the tasks "
                "it gathered go on.\n"
                if gathered
                else ""
            )
            + f"Expected: {expected}\nTry: {advice}{picture}",
            pytrace=False,
        )
    return ran


def _waits_at(task: asyncio.Task[Any], module: ModuleType) -> str:
    """The line of `module` a task waits at, else the innermost line of code outside asyncio."""
    _, line = waiting_at(task, module)
    own = _own_frames(task)
    return line or (_source(own[-1]) if own else "an await inside asyncio")


def _waited_out(tasks: list[asyncio.Task[Any]], started: StartedTasks) -> str:
    """What became of the tasks that were running at the cancel and did not end cancelled."""
    names = ", ".join(f"{started.describe(t)} {_ended(t)}" for t in tasks)
    if all(t.cancelling() == 0 for t in tasks):
        return (
            f"{len(tasks)} task(s) it had started ran to their end after the cancellation "
            f"instead of being cancelled ({names}): nobody called cancel() on them, so the "
            "caller waited them out."
        )
    return (
        f"{len(tasks)} task(s) it had started were asked to cancel but did not end cancelled "
        f"({names}): their code caught the CancelledError and carried on."
    )


def _ended(task: asyncio.Task[Any]) -> str:
    error = task.exception()
    return f"raised {error!r}" if error is not None else f"returned {task.result()!r}"


ASYNCIO = Path(asyncio.__file__).parent


def _asyncio_call(frame: FrameType | None) -> str:
    """The asyncio call that is creating a task ("asyncio.gather", "TaskGroup.create_task").

    The outermost asyncio frame under the code that asked for it, read from the call stack, so
    it names the API the code used however it was imported.
    """
    outermost = None
    while frame is not None:
        if Path(frame.f_code.co_filename).parent == ASYNCIO:
            outermost = frame
        elif outermost is not None:
            break  # the code that called asyncio
        frame = frame.f_back
    if outermost is None:
        return "an unknown call"
    module, name = Path(outermost.f_code.co_filename).stem, outermost.f_code.co_name
    return {"taskgroups": f"TaskGroup.{name}", "base_events": f"loop.{name}"}.get(
        module, f"asyncio.{name}"
    )


def _name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return str(getattr(coro, "__name__", None) or task.get_name())


def _while_at(task: asyncio.Task[Any]) -> str:
    """', while at <source line> (file:line)': the innermost await of the task's own code."""
    own = _own_frames(task)
    return f", while at {_source(own[-1])}" if own else ""


def _own_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames of a task's await chain that are neither asyncio's nor the harness's."""
    return [
        frame
        for _, frame in awaiting(task)
        if "harness" not in frame.f_code.co_filename and "asyncio" not in frame.f_code.co_filename
    ]


def waiting_at(task: asyncio.Task[Any] | None, module: ModuleType) -> tuple[list[str], str]:
    """Where a suspended task waits: the coroutines it is in, outermost first, and the line of
    `module` it is stopped at: "`source` (file.py:N)", or "" if it is not in that module."""
    chain = awaiting(task) if task is not None else []
    inside = [frame for _, frame in chain if frame.f_code.co_filename == module.__file__]
    return [name for name, _ in chain], _source(inside[-1]) if inside else ""


def awaiting(task: asyncio.Task[Any]) -> list[tuple[str, FrameType]]:
    """A suspended task's await chain: the coroutines (async generators, generator-based
    awaitables) it is in, outermost first, each as (qualified name, frame); the innermost is
    where it waits ("Queue.get", "Condition.wait", "Lock.acquire"). Empty once it is done."""
    chain: list[tuple[str, FrameType]] = []
    awaited: Any = task.get_coro() if not task.done() else None
    while awaited is not None:
        # a coroutine (cr_), an async generator (ag_) or a generator-based awaitable (gi_)
        frame = (
            getattr(awaited, "cr_frame", None)
            or getattr(awaited, "ag_frame", None)
            or getattr(awaited, "gi_frame", None)
        )
        if frame is None:  # a future, or a coroutine that has ended
            break
        chain.append((getattr(awaited, "__qualname__", "") or frame.f_code.co_qualname, frame))
        awaited = (
            getattr(awaited, "cr_await", None)
            or getattr(awaited, "ag_await", None)
            or getattr(awaited, "gi_yieldfrom", None)
            or _relayed(frame)
        )
    return chain


def _relayed(frame: FrameType) -> Any:
    """The call a `Wakeups` probe relays: it passes each step on by hand (send/throw, no
    `yield from`), so its generator shows nothing awaited, yet the task waits in that call."""
    if frame.f_code is Wakeups.__await__.__code__:
        return frame.f_locals["self"].call
    return None


def _source(frame: FrameType) -> str:
    """Where the frame is: "`the line` (file.py:N)"."""
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"`{line}` ({Path(frame.f_code.co_filename).name}:{frame.f_lineno})"


async def collect_garbage() -> None:
    """gc.collect() now, with the loop's slow-step alarm off for that one long step: collecting
    is not the learner's code blocking the loop."""
    loop = asyncio.get_running_loop()
    alarm, loop.slow_callback_duration = loop.slow_callback_duration, float("inf")
    try:
        gc.collect()
        await asyncio.sleep(0)  # the collecting step ends before the alarm is back
    finally:
        loop.slow_callback_duration = alarm
