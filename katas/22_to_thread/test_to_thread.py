import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import to_thread
from harness import Span, Timeline, scaled

FILES = dict.fromkeys(["a.txt", "b.txt", "c.txt", "d.txt"], 0.1)  # seconds hash_file blocks
CALL = f"hash_all({list(FILES)}, hash_file)"
TICK = 0.01  # the heartbeat: a task that ticks this often while the files are hashed


class RanOnTheLoop(Exception):
    """hash_file was called on the event loop's own thread."""


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

    With refuse_the_loop=True, a call on the event loop's thread fails at once (instead of
    freezing the loop), so the test can name the call that went wrong.
    """

    def __init__(
        self, timeline: Timeline, delays: dict[str, float], *, refuse_the_loop: bool = False
    ) -> None:
        self.timeline = timeline
        self.delays = delays
        self.refuse_the_loop = refuse_the_loop
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
        if on_loop and self.refuse_the_loop:
            span.end = span.start
            self.mistake = self._ran_on_the_loop(path, thread.name)
            span.error = RanOnTheLoop(self.mistake)
            raise span.error
        time.sleep(scaled(self.delays[path]))  # blocking on purpose: this is the blocking call
        span.end = self.timeline.now()
        return f"hash of {path}"

    def _ran_on_the_loop(self, path: str, thread: str) -> str:
        return (
            f"{CALL} called hash_file({path!r}) on the event loop's own thread ({thread}). "
            f"hash_file blocks: called there, it freezes the loop for {self.delays[path]} s a "
            "file, and no other task (no other file, no web request, no timer) can run "
            "meanwhile.\n"
            "Likely mistake: calling hash_file(path) yourself inside the coroutine, or writing "
            "asyncio.to_thread(hash_file(path)): the inner hash_file(path) runs first, on the "
            "loop's thread, and to_thread only gets its result (a str, which it then fails "
            "to call).\n"
            "Expected: every hash_file call in a worker thread.\n"
            "Try: hand to_thread the function and its argument separately: "
            "`await asyncio.to_thread(hash_file, path)`."
        )


async def hash_all(disk: Disk) -> list[str]:
    """to_thread.hash_all over the disk's files, failing at once if the disk was misused."""
    hashes: list[str] = []
    try:
        hashes = await to_thread.hash_all(list(disk.delays), disk.hash_file)
    except Exception:
        if not disk.mistake:
            raise
    if disk.mistake:  # outside `except`, so the failure shows the disk's explanation once
        pytest.fail(f"{disk.mistake}\n\n{disk.timeline.draw()}", pytrace=False)
    asked = Counter(call.path for call in disk.calls)
    wrong = {path: asked[path] for path in disk.delays if asked[path] != 1}
    if wrong:
        counts = ", ".join(f"hash_file({path!r}) {n} time(s)" for path, n in wrong.items())
        pytest.fail(
            f"{CALL} called {counts}.\nExpected: hash_file called exactly once per path.\n"
            "Try: one asyncio.to_thread(hash_file, path) per path, each awaited.\n\n"
            + disk.timeline.draw(),
            pytrace=False,
        )
    return hashes


def drawn(timeline: Timeline, instant: float) -> float:
    """An instant as timeline.draw() shows it: seconds since the first recorded call."""
    return instant - min(span.start for span in timeline.spans)


async def test_the_hashes_come_back_in_the_order_of_the_paths(timeline: Timeline) -> None:
    disk = Disk(timeline, {**FILES, "a.txt": 0.2})  # the first file is the slowest
    hashes = await hash_all(disk)
    expected = [f"hash of {path}" for path in disk.delays]
    if hashes == expected:
        return
    pytest.fail(
        f"{CALL} returned {hashes}, expected {expected}: the hashes must follow the order of "
        "the paths, not the order in which the threads finished ('a.txt' takes 0.2 s here, so "
        "it finishes last).\n"
        "Likely mistake: collecting each hash as its thread completes (as_completed, or each "
        "thread appending to a shared list).\n"
        "Try: keep one awaitable per path, in path order, and read the results in that order "
        "(asyncio.gather keeps the order of its arguments).\n\n" + timeline.draw(),
        pytrace=False,
    )


async def test_hash_file_runs_in_worker_threads_not_on_the_loop_thread(timeline: Timeline) -> None:
    disk = Disk(timeline, FILES, refuse_the_loop=True)
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
        start, end = drawn(timeline, start), drawn(timeline, end)
        ticked = f"{len(ticks)} tick{'s' if len(ticks) != 1 else ''} in all"
        pytest.fail(
            f"The event loop was blocked while {call.span.label} ran ({start:.2f}-{end:.2f} s): "
            f"it did not tick once, although a task was waiting to tick every "
            f"{TICK * 1000:.0f} ms ({ticked}). The loop was frozen, waiting for a blocking "
            "call.\n"
            "Likely mistake: hash_file(path) called on the loop's thread, or the loop waiting "
            "for the worker threads with a blocking wait (thread.join(), future.result(), "
            "time.sleep()).\n"
            "Expected: the loop free to run other tasks the whole time.\n"
            "Try: `await asyncio.to_thread(hash_file, path)`: the thread blocks, the loop "
            "awaits.\n\n" + timeline.draw(),
            pytrace=False,
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
    if any(call.on_loop for call in disk.calls):
        by = "the event loop's own thread, which they blocked"
    elif len(threads) == 1:
        by = f"a single worker thread ({threads[0]})"
    else:
        by = ", ".join(threads)
    pytest.fail(
        f"{CALL}: {late[0].label} started only after another hash_file call had finished: the "
        f"files were hashed one at a time, by {by}.\n"
        "Likely mistake: awaiting each asyncio.to_thread(...) before starting the next (an "
        "`await` inside a for loop), or an executor of your own with max_workers=1: one "
        "thread runs one call at a time, and the other calls wait in its queue.\n"
        "Expected: all four hash_file calls blocking side by side, each in a thread of its "
        "own.\n"
        "Try: start every call before you await any (asyncio.gather or a TaskGroup of "
        "asyncio.to_thread(hash_file, path)); asyncio.to_thread uses the loop's default "
        "executor, which has enough threads.\n\n" + timeline.draw(),
        pytrace=False,
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
