from __future__ import annotations

import asyncio
import inspect
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import loop_watchdog
import pytest
from harness import (
    EARLY,
    MARGIN,
    Span,
    Timeline,
    cancel_midway,
    fail,
    scaled,
    started_tasks,
    still_running,
    wall_clock,
)
from loop_watchdog import Stall, Watchdog

THRESHOLD = 0.2  # seconds: the watchdog's threshold in most tests
STALL = 0.4  # how long a stall holds the loop: twice the threshold, so none is borderline
PAUSE = 0.05  # the loop is free this long before and after each stall: a heartbeat beats
# Steps that hold the loop for less than a threshold of 0.3 s are no stall: 0.15 s each,
# longer than asyncio's own alarm (0.1 s, what the loop had before the watchdog).
SHORT, HIGH_THRESHOLD = 0.15, 0.3
TASK = "resize-images"  # the name of the task that holds the loop
CALLBACK = "flush_metrics"  # the callback that holds the loop (loop.call_soon)
UNUSUAL = 0.7  # a slow_callback_duration of the program's own, for the watchdog to put back
WATCHING = f"`async with Watchdog(threshold={scaled(THRESHOLD):.2f})`"


@pytest.mark.blocks_the_loop_on_purpose
async def test_a_task_that_holds_the_loop_is_named(timeline: Timeline) -> None:
    holder = Holder(timeline)
    with started_tasks() as started:
        async with Watchdog(threshold=scaled(THRESHOLD)) as dog:
            await asyncio.create_task(holder.resize(STALL), name=TASK)
    seen = f"the task {TASK!r} held the loop for {scaled(STALL):.2f} s (time.sleep)"
    own = [t.get_name() for t in started.tasks if t.get_name() != TASK]
    expect_stall_by(dog, TASK, seen, "task", own)


@pytest.mark.blocks_the_loop_on_purpose
async def test_a_callback_that_holds_the_loop_is_named(timeline: Timeline) -> None:
    holder = Holder(timeline)
    loop = asyncio.get_running_loop()
    async with Watchdog(threshold=scaled(THRESHOLD)) as dog:
        await asyncio.sleep(scaled(PAUSE))
        done = loop.create_future()
        loop.call_soon(holder.flush_metrics, done)
        await done
        await asyncio.sleep(scaled(PAUSE))
    seen = (
        f"the callback {CALLBACK}(), scheduled with loop.call_soon, held the loop for "
        f"{scaled(STALL):.2f} s (time.sleep)"
    )
    expect_stall_by(dog, CALLBACK, seen, "callback")


@pytest.mark.blocks_the_loop_on_purpose
async def test_a_stall_lasts_as_long_as_the_loop_was_held(timeline: Timeline) -> None:
    holder = Holder(timeline)
    async with Watchdog(threshold=scaled(THRESHOLD)) as dog:
        await asyncio.create_task(holder.resize(STALL), name=TASK)
    seen = f"the task {TASK!r} held the loop for {scaled(STALL):.2f} s (time.sleep)"
    stall = expect_stall_by(dog, TASK, seen, "task")
    expect_held_for(stall, timeline.span(f"{TASK} holds the loop (1)"), seen, timeline)


@pytest.mark.blocks_the_loop_on_purpose
async def test_steps_shorter_than_the_threshold_are_not_stalls(timeline: Timeline) -> None:
    holder = Holder(timeline)
    alarm = asyncio.get_running_loop().slow_callback_duration  # asyncio's, before the watchdog
    async with Watchdog(threshold=scaled(HIGH_THRESHOLD)) as dog, asyncio.TaskGroup() as tg:
        for number in range(5):
            tg.create_task(only_awaits(), name=f"poller-{number}")
        tg.create_task(holder.resize(SHORT, rounds=2), name=TASK)
    if not dog.stalls:
        return
    seen = (
        f"five tasks only awaited (ten short steps each), and the task {TASK!r} held the loop "
        f"twice for {scaled(SHORT):.2f} s"
    )
    shorter = [s for s in dog.stalls if s.seconds < scaled(HIGH_THRESHOLD)]
    fail(
        f"Watchdog(threshold={scaled(HIGH_THRESHOLD):.2f}): {seen}, no step as long as the "
        f"threshold; dog.stalls has {len(dog.stalls)}:\n{each_stall(dog.stalls)}\n"
        + (
            f"{len(shorter)} of them {'is' if len(shorter) == 1 else 'are'} shorter than the "
            "threshold: whatever reported them used a lower limit than `threshold` (asyncio's "
            f"own alarm, slow_callback_duration, was {alarm:.2f} s before the watchdog).\n"
            if shorter
            else ""
        )
        + "Expected: no stall; a step that holds the loop for less than the threshold is the "
        "program at work.\n"
        "Try: report only a step that held the loop for `threshold` seconds or more.\n\n"
        + timeline.draw()
    )


@pytest.mark.blocks_the_loop_on_purpose
async def test_two_stalls_are_reported_as_two(timeline: Timeline) -> None:
    holder = Holder(timeline)
    async with Watchdog(threshold=scaled(THRESHOLD)) as dog:
        await asyncio.create_task(holder.resize(STALL, rounds=2), name=TASK)
    seen = (
        f"the task {TASK!r} held the loop twice for {scaled(STALL):.2f} s, with the loop free "
        f"for {scaled(PAUSE):.2f} s before and after each"
    )
    if len(dog.stalls) == 2:
        return
    added_up = [s for s in dog.stalls if s.seconds > 1.5 * scaled(STALL)]
    fail(
        f"Watchdog(threshold={scaled(THRESHOLD):.2f}): {seen}; dog.stalls has "
        f"{len(dog.stalls)}:\n{each_stall(dog.stalls)}\n"
        + (
            f"A stall of {added_up[0].seconds:.2f} s is the two stalls added up into one: "
            "each time the loop is held is a stall of its own, even when the same task "
            "holds it.\nTry: append a new Stall for every slow step; never add a step's time "
            "to a stall reported earlier.\n\n"
            if added_up
            else "Expected: two stalls, one for each time the loop was held.\n\n"
        )
        + timeline.draw()
    )


async def test_the_loop_is_left_as_the_watchdog_found_it() -> None:
    loop = asyncio.get_running_loop()
    with settings_put_back(loop):
        for debug in (False, True):
            loop.set_debug(debug)
            loop.slow_callback_duration = UNUSUAL
            async with Watchdog(threshold=scaled(THRESHOLD)):
                await asyncio.sleep(scaled(PAUSE))
            expect_as_found(loop, debug, f"{WATCHING} ended")


@pytest.mark.blocks_the_loop_on_purpose
async def test_stalls_after_the_block_are_not_reported(timeline: Timeline) -> None:
    holder = Holder(timeline)
    loop = asyncio.get_running_loop()
    async with Watchdog(threshold=scaled(THRESHOLD)) as dog:
        await asyncio.sleep(scaled(PAUSE))
    with settings_put_back(loop):
        loop.set_debug(True)  # the program's own debug mode, with asyncio's own alarm
        loop.slow_callback_duration = scaled(0.1)
        await asyncio.create_task(holder.resize(STALL), name=TASK)
    if dog.stalls:
        fail(
            f"`async with Watchdog(threshold={scaled(THRESHOLD):.2f}) as dog` ended; then, "
            "with debug mode on, "
            f"the task {TASK!r} held the loop for {scaled(STALL):.2f} s, and dog.stalls got it:\n"
            f"{each_stall(dog.stalls)}\n"
            "The watchdog was still listening after the block: whatever it hooked into "
            "asyncio's reports stayed there, and every program that opens a watchdog now "
            "and then collects more of them.\n"
            "Expected: no stall after the block ends.\n"
            "Try: on exit, remove what you added on entry (a handler or a filter of the "
            "'asyncio' logger)."
        )


async def test_the_watchdog_leaves_nothing_running_after_the_block() -> None:
    threads, tasks = set(threading.enumerate()), asyncio.all_tasks()
    async with Watchdog(threshold=scaled(THRESHOLD)):
        await asyncio.sleep(scaled(PAUSE))
    expect_nothing_of_the_watchdog_left(threads, tasks, f"{WATCHING} ended")


async def test_a_cancelled_block_still_puts_everything_back() -> None:
    loop = asyncio.get_running_loop()
    threads, tasks = set(threading.enumerate()), asyncio.all_tasks()
    with settings_put_back(loop):
        loop.set_debug(False)
        loop.slow_callback_duration = UNUSUAL
        await cancel_midway(
            watched_forever(), after=PAUSE, what="a task inside `async with Watchdog(...)`"
        )
        call = f"a task inside {WATCHING} was cancelled"
        expect_nothing_of_the_watchdog_left(threads, tasks, call)
        expect_as_found(loop, False, call)


@pytest.mark.stage(2)
@pytest.mark.blocks_the_loop_on_purpose
async def test_a_stall_names_the_line_that_held_the_loop(timeline: Timeline) -> None:
    holder = Holder(timeline)
    async with Watchdog(threshold=scaled(THRESHOLD)) as dog:
        await asyncio.create_task(holder.resize(STALL), name=TASK)
    seen = f"the task {TASK!r} held the loop for {scaled(STALL):.2f} s in time.sleep()"
    stall = expect_stall_by(dog, TASK, seen, "task")
    expect_where(stall, holder, seen)


@pytest.mark.stage(2)
@pytest.mark.blocks_the_loop_on_purpose
async def test_the_line_is_found_when_the_wall_clock_jumps(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = wall_clock(monkeypatch, loop_watchdog)
    holder = Holder(timeline, at_start=lambda: setattr(clock, "offset", clock.offset - 3600))
    async with Watchdog(threshold=scaled(THRESHOLD)) as dog:
        await asyncio.create_task(holder.resize(STALL), name=TASK)
    seen = (
        f"the task {TASK!r} held the loop for {scaled(STALL):.2f} s in time.sleep(), and the "
        "wall clock was set back an hour as it began (as NTP or an admin may)"
    )
    stall = expect_stall_by(dog, TASK, seen, "task")
    if clock.reads and holder.where_line not in stall.where:
        fail(
            f"Watchdog(threshold={scaled(THRESHOLD):.2f}): {seen}; the stall was reported "
            f"with where={stall.where!r}, expected {holder.where_line!r} in it.\n"
            f"loop_watchdog read the wall clock, time.time(), {clock.reads} times while it "
            "watched: any time measured across the jump comes out an hour short, so a stall "
            "measured with it looks like no stall at all. The wall clock tells the date; it is "
            "no stopwatch.\n"
            "Try: time.monotonic(), which only ever goes forward (the loop's own loop.time() "
            "is built on it)."
        )
    expect_where(stall, holder, seen)


def expect_stall_by(
    dog: Watchdog, name: str, seen: str, kind: str, own: list[str] | None = None
) -> Stall:
    """The one stall the scenario made, named after `name` (the task or the callback)."""
    __tracebackhide__ = True
    call = f"Watchdog(threshold={scaled(THRESHOLD):.2f})"
    if not dog.stalls:
        fail(
            f"{call}: {seen}, and dog.stalls was empty when the block ended.\n"
            f"Expected: one Stall whose culprit names the {kind} ({name!r}).\n"
            "Try: the code that holds the loop cannot report itself, and no task runs while it "
            "does: find out afterwards how long the step took (asyncio's debug mode times "
            "each step of the loop), or watch from another thread."
        )
    named = [s for s in dog.stalls if name in s.culprit]
    ours = [
        (s, task)
        for s in dog.stalls
        for task in own or []
        if s.culprit == task or f"name='{task}'" in s.culprit
    ]
    if not named and ours:
        stall, task = ours[0]
        fail(
            f"{call}: {seen}; the stall was reported with culprit={stall.culprit!r}: that is "
            f"the watchdog's own task ({task!r}), which it started itself, not the one that "
            "held the loop. A task that measures how late it woke up knows how long it waited, "
            "not who made it wait: by then the culprit's step is over.\n"
            f"Expected: a culprit naming {name!r}.\n"
            "Try: take the culprit from whoever saw the slow step itself: asyncio's debug mode "
            "reports each slow step with the task or callback that ran it."
        )
    if not named:
        mistake = (
            f"{'it does' if len(dog.stalls) == 1 else 'they do'} not name the callback: a "
            "callback scheduled with loop.call_soon is no task and has no task name; name it "
            "by its function, as asyncio shows its Handle."
            if kind == "callback"
            else f"{'it does' if len(dog.stalls) == 1 else 'they do'} not name the task."
        )
        fail(
            f"{call}: {seen}; dog.stalls has:\n{each_stall(dog.stalls)}\n{mistake}\n"
            f"Expected: a culprit that contains {name!r}."
        )
    if len(dog.stalls) > 1:
        fail(
            f"{call}: {seen}, the only stall; dog.stalls has {len(dog.stalls)}:\n"
            f"{each_stall(dog.stalls)}\nExpected: one stall, naming {name!r}: nothing else held "
            "the loop for the threshold."
        )
    return named[0]


def expect_held_for(stall: Stall, hold: Span, seen: str, timeline: Timeline) -> None:
    """The stall lasted as long as the hold: the time.sleep() as measured, oversleep and all."""
    __tracebackhide__ = True
    held = (hold.end or 0.0) - hold.start
    low, high = EARLY * held, held + scaled(MARGIN)
    if low <= stall.seconds <= high:
        return
    past = abs(stall.seconds - (held - scaled(THRESHOLD))) <= scaled(MARGIN)
    fail(
        f"Watchdog(threshold={scaled(THRESHOLD):.2f}): {seen}; the stall was reported with "
        f"seconds={stall.seconds:.2f}.\n"
        + (
            f"That is short by about the threshold ({scaled(THRESHOLD):.2f} s): it is how long "
            "the step ran past the threshold, not how long it held the loop.\n"
            if past
            else ""
        )
        + f"Expected: how long the loop was held, {held:.2f} s as measured (between {low:.2f} "
        f"and {high:.2f} s).\n\n{timeline.draw()}"
    )


def expect_where(stall: Stall, holder: Holder, seen: str) -> None:
    __tracebackhide__ = True
    if holder.where_line in stall.where and holder.function in stall.where:
        return
    module = Path(loop_watchdog.__file__).name
    function = stall.where.split(" (")[0].strip()
    if not stall.where:
        verdict = (
            "where is empty: nothing looked at the loop's thread while it was held.\n"
            "Try: a thread of the watchdog's own can look while the loop cannot; it learns "
            "that the loop is held when a heartbeat that the loop keeps is late."
        )
    elif re.search(rf"[(/\\]{re.escape(module)}:", stall.where):
        verdict = (
            f"That line is in {module}, the watchdog's own code: the frame looked at was the "
            "watchdog's own (in its own thread, or in the loop's once the stall was over), "
            "while during the stall the loop's thread was in time.sleep().\n"
            "Try: note the loop's thread id (threading.get_ident()) when the watchdog starts, "
            "and look up that thread's frame in sys._current_frames()."
        )
    elif function in holder.stack[1:]:
        verdict = (
            f"{function}() is on the loop thread's stack, but further out: it called the code "
            "that held the loop. The innermost frame is the one that was running.\n"
            "Try: take the innermost frame, the one sys._current_frames() gives for the "
            "thread (traceback.extract_stack() lists the outermost first)."
        )
    else:
        verdict = "It names neither the function nor the line that ran during the stall."
    fail(
        f"Watchdog(threshold={scaled(THRESHOLD):.2f}): {seen}; the stall was reported with "
        f"where={stall.where!r}.\n{verdict}\n"
        f"Expected: the function and line that ran meanwhile: {holder.function} "
        f"({holder.where_line})."
    )


def expect_as_found(loop: asyncio.AbstractEventLoop, debug: bool, call: str) -> None:
    __tracebackhide__ = True
    if loop.get_debug() != debug:
        fail(
            f"The loop's debug mode was {'on' if debug else 'off'}; {call}, and the watchdog "
            + (
                "turned debug mode off: the program had it on for reasons of its own (the "
                "test harness, for one, uses it to find blocked loops), and lost it for good.\n"
                "Try: note loop.get_debug() on entry and set it back to that on exit, not to "
                "False."
                if debug
                else "left debug mode on: it slows every step of the program from then on "
                "(it times each one and records where every task and callback was made).\n"
                "Try: note loop.get_debug() on entry and set it back to that on exit."
            )
        )
    if loop.slow_callback_duration != UNUSUAL:
        fail(
            f"The loop's slow_callback_duration was {UNUSUAL}; {call}, and the watchdog left "
            f"slow_callback_duration at {loop.slow_callback_duration}: the program's own slow "
            "step reports now use the watchdog's threshold.\n"
            "Try: note it on entry and set it back on exit, as debug mode."
        )


def expect_nothing_of_the_watchdog_left(
    threads: set[threading.Thread], tasks: set[asyncio.Task[Any]], call: str
) -> None:
    __tracebackhide__ = True
    alive = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    if alive:
        fail(
            f"{call}; the thread(s) {', '.join(repr(t.name) for t in alive)} it started were "
            "still alive: a watchdog thread left behind keeps watching a program that has "
            "moved on (and one more is left each time a watchdog opens).\n"
            "Try: on exit, tell the thread to stop (a threading.Event it waits on, rather than "
            "a sleep) and join() it."
        )
    running = still_running(tasks)
    if running:
        asked = [t for t in running if t.cancelling()]
        fail(
            f"{call}; the task(s) {', '.join(repr(t.get_name()) for t in running)} it started "
            "were still running.\n"
            + (
                "They had been cancelled, but not awaited: cancel() only asks a task to stop, "
                "and it stops at its next turn, after the block has ended.\n"
                "Try: cancel the task, then await it (asyncio.wait({task}) waits without "
                "raising its CancelledError)."
                if asked
                else "Try: on exit, cancel each task the watchdog started and await it."
            )
        )


@contextmanager
def settings_put_back(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The loop's debug settings as the test harness set them, back after the test's own."""
    saved = loop.get_debug(), loop.slow_callback_duration
    try:
        yield
    finally:
        loop.set_debug(saved[0])
        loop.slow_callback_duration = saved[1]


def each_stall(stalls: list[Stall]) -> str:
    return "\n".join(f"  {stall!r}" for stall in stalls)


async def only_awaits() -> None:
    """A task that takes many short steps, each ending at an await: the loop is never held."""
    for _ in range(10):
        await asyncio.sleep(0.01)


async def watched_forever() -> None:
    async with Watchdog(threshold=scaled(THRESHOLD)):
        await asyncio.sleep(scaled(10))


def functions_on_the_stack() -> list[str]:
    """The functions this thread is in, its caller first: a cheap walk, no source read."""
    names = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


class Holder:
    """Holds the event loop's thread, as CPU-heavy work does; each hold is on the timeline."""

    def __init__(self, timeline: Timeline, at_start: Callable[[], object] = lambda: None):
        self.timeline = timeline
        self.at_start = at_start
        self.stack: list[str] = []  # the loop thread's functions in the last hold, innermost first
        source, first = inspect.getsourcelines(Holder.hold_the_loop)
        line = first + next(i for i, text in enumerate(source) if "time.sleep(" in text)
        self.function = "hold_the_loop"
        self.where_line = f"{Path(__file__).name}:{line}"

    def hold_the_loop(self, label: str, seconds: float) -> None:
        self.stack = functions_on_the_stack()
        self.at_start()
        with self.timeline.record(label):
            time.sleep(scaled(seconds))  # the line a stall names (stage 2)

    async def resize(self, seconds: float, rounds: int = 1) -> None:
        """The task that holds the loop `rounds` times, the loop free before and after each."""
        for number in range(rounds):
            await asyncio.sleep(scaled(PAUSE))  # also a step of its own with eager tasks
            self.hold_the_loop(f"{TASK} holds the loop ({number + 1})", seconds)
        await asyncio.sleep(scaled(PAUSE))

    def flush_metrics(self, done: asyncio.Future[None]) -> None:
        """The callback that holds the loop, scheduled with loop.call_soon."""
        self.hold_the_loop(f"{CALLBACK}() holds the loop", STALL)
        done.set_result(None)
