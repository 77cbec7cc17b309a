from __future__ import annotations

import asyncio
import concurrent.futures
import linecache
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import to_thread
from harness import Span, Timeline, Wakeups, cancel_midway, fail, scaled

FILES = dict.fromkeys(["a.txt", "b.txt", "c.txt", "d.txt"], 0.1)  # seconds hash_file blocks
CALL = f"hash_all({list(FILES)}, hash_file)"
TICK = 0.01  # the heartbeat: a task that ticks this often while the files are hashed
# The failing-file test: b.txt, the slowest (0.2 s), raises once the others are hashed (0.1 s).
FAILING = "b.txt"
STUCK_AFTER = 1.0  # seconds: that test needs 0.2 s; still waiting after 1 s means it never ends


REFUSED: list[str] = []  # the blocking waits refused on the loop's thread, as sentences


async def test_the_hashes_come_back_in_the_order_of_the_paths(timeline: Timeline) -> None:
    disk = Disk(timeline, {**FILES, "a.txt": 0.2})  # the first file is the slowest
    hashes = await hash_all(disk)
    expected = [f"hash of {path}" for path in disk.delays]
    if hashes == expected:
        return
    fail(
        f"{CALL} returned {hashes}, expected {expected}: the hashes must follow the order of "
        "the paths, not the order in which the threads finished ('a.txt' takes 0.2 s here, so "
        "it finishes last).\n"
        "Likely mistake: collecting each hash as its thread completes (as_completed, or each "
        "thread appending to a shared list).\n"
        "Try: keep one awaitable per path, in path order, and read the results in that order "
        "(asyncio.gather keeps the order of its arguments).\n\n" + timeline.draw()
    )


async def test_hash_file_runs_in_worker_threads_not_on_the_loop_thread(timeline: Timeline) -> None:
    disk = Disk(timeline, FILES)
    # The disk fails the test the moment hash_file runs on the loop's thread; hash_all checks
    # that every file was hashed (once).
    await hash_all(disk)


async def test_the_loop_keeps_ticking_while_the_files_are_hashed(timeline: Timeline) -> None:
    disk = Disk(timeline, FILES)
    async with timeline.heartbeat(TICK) as ticks:
        await hash_all(disk)
    for call in disk.calls:
        start, end = call.span.start, call.span.end or timeline.now()
        if any(start < tick < end for tick in ticks):
            continue
        start, end = timeline.drawn(start), timeline.drawn(end)
        ticked = f"{len(ticks)} tick{'s' if len(ticks) != 1 else ''} in all"
        fail(
            f"The event loop was blocked while {call.span.label} ran ({start:.2f}-{end:.2f} s): "
            f"it did not tick once, although a task was waiting to tick every "
            f"{TICK * 1000:.0f} ms ({ticked}). The loop was frozen, waiting for a blocking "
            "call.\n"
            "Expected: the loop free to run other tasks the whole time.\n"
            "Try: `await asyncio.to_thread(hash_file, path)`: the thread blocks, the loop "
            "awaits.\n\n" + timeline.draw()
        )


async def test_the_four_files_are_hashed_at_the_same_time(timeline: Timeline) -> None:
    disk = Disk(timeline, FILES)
    await hash_all(disk)
    spans = [call.span for call in disk.calls]
    first_end = min(span.end for span in spans if span.end is not None)
    late = [span for span in spans if span.start >= first_end]
    if not late:
        return
    threads = sorted({call.thread for call in disk.calls})
    # The default executor's threads are named after it: asyncio_0, ... (uvloop_0 on uvloop).
    default = await asyncio.get_running_loop().run_in_executor(None, current_thread_name)
    if len(threads) == 1 and not threads[0].startswith(default.rsplit("_", 1)[0] + "_"):
        seen = (
            f"all by one thread, {threads[0]}, of an executor of your own: with "
            "max_workers=1 its one thread runs one call at a time, and the other calls wait "
            "in its queue."
        )
    else:
        seen = (
            f"by the loop's default executor ({', '.join(threads)}), which has threads to "
            "spare: each call was started only once the previous one had returned (an "
            "`await` inside a for loop)."
        )
    fail(
        f"{CALL}: {late[0].label} started only after another hash_file call had finished: the "
        f"files were hashed one at a time, {seen}\n"
        "Expected: all four hash_file calls blocking side by side, each in a thread of its "
        "own.\n"
        "Try: start every call before you await any (asyncio.gather or a TaskGroup of "
        "asyncio.to_thread(hash_file, path)); asyncio.to_thread uses the loop's default "
        "executor, which has enough threads.\n\n" + timeline.draw()
    )


async def test_four_files_take_about_as_long_as_one(timeline: Timeline) -> None:
    with timeline.expect_duration(
        0.1,
        delays=tuple(FILES.values()),
        what=f"{CALL} (four files of 0.1 s)",
        advice="start a worker thread for every file before you await any of them: "
        "asyncio.gather(*(asyncio.to_thread(hash_file, path) for path in paths)). The default "
        "executor has min(32, os.cpu_count() + 4) threads, at least 5, so four blocking calls "
        "run side by side and take 0.1 s, not 4 x 0.1 s.",
    ):
        await hash_all(Disk(timeline, FILES))


async def test_hash_all_awaits_the_threads_without_polling(timeline: Timeline) -> None:
    disk = Disk(timeline, {**FILES, "d.txt": 0.3})  # the last file keeps the loop waiting
    call = Wakeups(to_thread.hash_all(list(disk.delays), disk.hash_file))
    await call
    most = len(FILES) + 1  # woken at most once per thread that finishes, and once more
    if call.woken <= most:
        return
    fail(
        f"Polling: {CALL} was woken up {call.woken:,} times while the threads hashed the files "
        f"(for {scaled(0.3):.2f} s), where waiting takes at most {most}: once per thread that "
        "finishes. It checks again and again whether the threads are done, with `await "
        "asyncio.sleep()` in between, instead of sleeping until they are: the loop spins for "
        "nothing, and each check comes late.\n"
        "Expected: hash_all sleeps until the threads are done.\n"
        "Try: `await asyncio.to_thread(hash_file, path)` (or await `loop.run_in_executor(...)`): "
        f"an awaitable the loop wakes you from when the thread returns.\n\n{timeline.draw()}"
    )


async def test_a_cancelled_hash_all_leaves_no_task_running(timeline: Timeline) -> None:
    await hash_all(Disk(timeline, {"warm-up.txt": 0.0}))  # one that works first (not the stub)
    disk = Disk(timeline, FILES)
    await cancel_midway(
        to_thread.hash_all(list(FILES), disk.hash_file),
        after=0.05,
        what=CALL,
        timeline=timeline,
    )
    await asyncio.sleep(scaled(0.1))  # the threads finish their files (a thread cannot be stopped)


async def test_a_file_that_fails_to_hash_raises_its_error_out_of_hash_all(
    timeline: Timeline,
) -> None:
    disk = Disk(timeline, {**FILES, FAILING: 0.2}, failing=FAILING)
    call = f"{CALL}, where hash_file({FAILING!r}) raises {disk.error!r} after {scaled(0.2):.2f} s,"
    hashes: list[Any] = []
    stuck = False
    try:
        async with asyncio.timeout(scaled(STUCK_AFTER)):
            hashes = await hash_all(disk)
    except TimeoutError:
        stuck = True
    except PermissionError as error:
        if error is disk.error:
            return
        raise
    except ExceptionGroup as group:
        if group.subgroup(lambda error: error is disk.error) is not None:
            return
        raise
    if stuck:
        fail(
            f"{call} was still waiting {scaled(STUCK_AFTER):.1f} s later: the thread that ran "
            f"hash_file({FAILING!r}) ended with that error, and nothing handed it to hash_all, "
            "which waited on for a hash that will never come.\n"
            "Expected: the error raised in the thread comes out of hash_all, as if hash_file "
            "had raised it right there.\n"
            "Try: `await asyncio.to_thread(hash_file, path)`: it hands the loop whatever the "
            "thread ends with, a result or an error (a thread of your own must catch the error "
            "and hand it over too: loop.call_soon_threadsafe(future.set_exception, error))."
            f"\n\n{timeline.draw()}"
        )
    if any(value is disk.error for value in hashes):
        fail(
            f"{call} returned {hashes}: the error came back as a value in the list, in "
            f"{FAILING!r}'s place, as if it were its hash (what asyncio.gather(..., "
            "return_exceptions=True) does), and hash_all's caller never hears of it.\n"
            "Expected: hash_all raises that error (alone, or in the ExceptionGroup of a "
            "TaskGroup).\n"
            "Try: let the error go up: a TaskGroup of asyncio.to_thread calls, or "
            f"asyncio.gather without return_exceptions.\n\n{timeline.draw()}"
        )
    fail(
        f"{call} returned {hashes}: the error never reached its caller.\nExpected: hash_all "
        "raises it (alone, or in the ExceptionGroup of a TaskGroup)."
    )


class RanOnTheLoop(Exception):
    """hash_file was called on the event loop's own thread."""


class BlockedTheLoop(Exception):
    """A blocking wait was called on the event loop's thread; the test refused it."""


def _caller(depth: int) -> tuple[str, str]:
    """The learner's source line `depth` frames up, and where it is: ('line', 'file:n')."""
    frame = sys._getframe(depth + 1)
    while frame.f_back is not None and not frame.f_code.co_filename.endswith("to_thread.py"):
        frame = frame.f_back
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return line, f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"


@pytest.fixture(autouse=True)
def refuse_blocking_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """time.sleep, Thread.join and Future.result called on the loop's thread (where they would
    freeze the loop) fail at once, so the test names the call instead of a frozen loop."""
    REFUSED.clear()
    loop_thread = threading.get_ident()
    sleep, join, result = time.sleep, threading.Thread.join, concurrent.futures.Future.result

    def refuse(call: str) -> None:
        line, where = _caller(2)
        REFUSED.append(f"{call} was called on the event loop's thread, at `{line}` ({where})")
        raise BlockedTheLoop(REFUSED[-1])

    def guarded_sleep(seconds: float) -> None:
        if threading.get_ident() == loop_thread:
            refuse(f"time.sleep({seconds!r})")
        sleep(seconds)

    def guarded_join(thread: threading.Thread, timeout: float | None = None) -> None:
        if threading.get_ident() == loop_thread and timeout is None:
            join(thread, scaled(0.02))  # a thread that is ending anyway may end
            if thread.is_alive():
                refuse("thread.join()")
        join(thread, timeout)

    def guarded_result(future: Any, timeout: float | None = None) -> Any:
        if threading.get_ident() == loop_thread and not future.done():
            refuse("future.result()")
        return result(future, timeout)

    monkeypatch.setattr(time, "sleep", guarded_sleep)
    monkeypatch.setattr(threading.Thread, "join", guarded_join)
    monkeypatch.setattr(concurrent.futures.Future, "result", guarded_result)


@dataclass
class Call:
    path: str
    span: Span
    thread: str  # the name of the thread hash_file ran in
    on_loop: bool  # that thread is the event loop's


class Disk:
    """A fake slow disk: hash_file(path) is a plain function that BLOCKS (time.sleep) for the
    file's delay, as real blocking I/O does. Each call is drawn on the timeline with the thread
    it ran in. It may be called from several threads at once, so it records under a lock.

    A call on the event loop's thread fails at once (instead of freezing the loop), so the test
    can name the call that went wrong.
    """

    def __init__(self, timeline: Timeline, delays: dict[str, float], failing: str = "") -> None:
        self.timeline = timeline
        self.delays = delays
        self.failing = failing  # the path whose hash_file raises `error` at the end of its delay
        self.error = PermissionError(f"{failing}: permission denied")
        self.loop_thread = threading.get_ident()  # made inside the test: the loop's thread
        self.calls: list[Call] = []
        self.mistake = ""
        self._lock = threading.Lock()

    def hash_file(self, path: str) -> str:
        thread = threading.current_thread()
        on_loop = thread.ident == self.loop_thread
        where = "ON THE LOOP'S THREAD" if on_loop else f"in thread {thread.name}"
        span = Span(f"hash_file({path!r}) {where}", self.timeline.now())
        with self._lock:
            self.timeline.spans.append(span)
            self.calls.append(Call(path, span, thread.name, on_loop))
        if on_loop:
            span.end = span.start
            self.mistake = self._ran_on_the_loop(path, *_caller(1))
            span.error = RanOnTheLoop(self.mistake)
            raise span.error
        time.sleep(scaled(self.delays[path]))  # blocking on purpose: this is the blocking call
        span.end = self.timeline.now()
        if path == self.failing:
            span.error = self.error
            raise self.error
        return f"hash of {path}"

    def _ran_on_the_loop(self, path: str, line: str, where: str) -> str:
        head = (
            f"{CALL} called hash_file({path!r}) on the event loop's own thread, at `{line}` "
            f"({where}). hash_file blocks: called there, it freezes the loop for "
            f"{self.delays[path]} s a file, and no other task (no other file, no web request, "
            "no timer) can run meanwhile. (This test refused the call, so that you read this "
            "instead of a frozen loop.)\n"
        )
        if re.search(r"to_thread\(\s*hash_file\(", line):
            mistake = (
                "In asyncio.to_thread(hash_file(path)), the inner hash_file(path) runs first, "
                "on the loop's thread, and to_thread only gets its result (a str, which it "
                "then fails to call).\n"
            )
        else:
            mistake = (
                "It called hash_file(path) itself, in the coroutine: a coroutine runs on the "
                "loop's thread, so everything it calls directly does too.\n"
            )
        return (
            f"{head}{mistake}Expected: every hash_file call in a worker thread.\n"
            "Try: hand to_thread the function and its argument separately: "
            "`await asyncio.to_thread(hash_file, path)`."
        )


async def hash_all(disk: Disk) -> list[str]:
    """to_thread.hash_all over the disk's files, failing at once if the disk was misused or the
    loop's thread was made to wait."""
    hashes: list[str] = []
    try:
        hashes = await to_thread.hash_all(list(disk.delays), disk.hash_file)
    except Exception:
        if not disk.mistake and not REFUSED:
            raise
    if disk.mistake:  # outside `except`, so the failure shows the disk's explanation once
        fail(f"{disk.mistake}\n\n{disk.timeline.draw()}")
    if REFUSED:
        fail(
            f"{CALL}: {REFUSED[0]}. That call makes the thread it runs on wait, and the "
            "loop runs on that thread: the loop freezes just as if hash_file ran there. (This "
            "test refused the call, so that you read this instead of a frozen loop.)\n"
            "Expected: the loop free while the threads work; it awaits them.\n"
            "Try: `await asyncio.to_thread(hash_file, path)` for every path, in a TaskGroup "
            f"(or asyncio.gather): the loop awaits the threads.\n\n{disk.timeline.draw()}"
        )
    asked = Counter(call.path for call in disk.calls)
    wrong = {path: asked[path] for path in disk.delays if asked[path] != 1}
    if wrong:
        counts = ", ".join(f"hash_file({path!r}) {n} time(s)" for path, n in wrong.items())
        fail(
            f"{CALL} called {counts}.\nExpected: hash_file called exactly once per path.\n"
            "Try: one asyncio.to_thread(hash_file, path) per path, each awaited.\n\n"
            + disk.timeline.draw()
        )
    return hashes


def current_thread_name() -> str:
    return threading.current_thread().name
