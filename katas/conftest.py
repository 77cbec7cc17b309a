"""Guards every kata test: a deadline, loop-blocking detection and task hygiene.

Each async test runs inside a guard that turns the classic asyncio mistakes into failures that
name them: a deadlock (with the awaits that are stuck), a loop blocked by time.sleep or a CPU
loop, a coroutine never awaited, a task left running or failing unobserved after the test.
pytest-timeout (signal method) stays the backstop for a loop that never gives control back.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import inspect
import itertools
import json
import linecache
import logging
import os
import re
import signal
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

import pytest
from harness import LIVE, TIME_SCALE_PROBLEM, Grade, Grader, Timeline, awaiting, scaled

if TYPE_CHECKING:  # servers imports aiohttp: only the real-world katas pay for it
    from aiohttp.web import AbstractRouteDef
    from servers import HttpServer, NatsServer

# asyncio's own notion of a slow callback: anything this long without an await blocks the loop.
BLOCKING_THRESHOLD = 0.1
# Stress variants (nox -s stress): eager tasks (3.12+) and another event loop (uvloop).
# A "write the tests" kata's component lives in its given/ folder and imports plainly
# (`from loading_cache import LoadingCache`), in the learner's own runs and in graded ones.
sys.path[:0] = [str(p) for p in sorted(Path(__file__).parent.glob("*/given"))]
EAGER = os.environ.get("KATA_EAGER", "") not in ("", "0")
LOOP = os.environ.get("KATA_LOOP", "asyncio")
# Where the learner's tools keep which follow-up stage of each kata is unlocked (read only here).
STATE = Path(__file__).resolve().parents[1] / ".katas" / "state.json"
# The asyncio deadline of a test, as a share of its pytest-timeout (which stays the backstop).
DEADLINE_SHARE = 0.8
# asyncio's folder and the harness's: a frame in them is not the code a message points at.
LIBRARY = (Path(asyncio.__file__).parent, Path(__file__).parent / "_harness")

AsyncTest = Callable[..., Coroutine[Any, Any, None]]


@pytest.fixture(scope="module")
def grade(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Grade:
    """A "write the tests" kata: the learner's tests run on every version once, for the module's
    `GRADER` (its grading tests then read the result)."""
    grader: Grader = request.module.GRADER
    return grader.grade(tmp_path_factory.mktemp("graded"))


@pytest.fixture
def timeline(monkeypatch: pytest.MonkeyPatch) -> Timeline:
    """Fake work that records a timeline and counts calls in flight."""
    return Timeline(monkeypatch)


# The server fixtures are async for one reason: so that they end while the test's event loop
# still runs, before it closes. A connection the learner's code leaked to a server still up
# would keep uvloop's close() waiting forever.


@pytest.fixture
async def http_server(
    timeline: Timeline,
) -> AsyncIterator[Callable[[Iterable[AbstractRouteDef]], HttpServer]]:
    """Start real HTTP servers on 127.0.0.1 (`http_server(routes)`); all stop when the test ends."""
    from servers import HttpServer

    with contextlib.ExitStack() as stack:  # every server is stopped, even if one stop() fails

        def start(routes: Iterable[AbstractRouteDef]) -> HttpServer:
            server = HttpServer(timeline, routes).start()
            stack.callback(server.stop)
            return server

        yield start


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A real NATS server with JetStream on 127.0.0.1, stopped when the test ends."""
    from servers import NatsServer

    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    if TIME_SCALE_PROBLEM:
        raise pytest.UsageError(TIME_SCALE_PROBLEM)


if LOOP == "uvloop":  # defined only then: pytest-asyncio wants a factory from every hook

    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
        """KATA_LOOP=uvloop runs every async test on uvloop instead of asyncio's own loop."""
        import uvloop

        class TimedLoop(uvloop.Loop):
            """uvloop, keeping each timer set and its callback: uvloop does not show them, and
            the guard reports the timers a kata's code leaves armed."""

            def __init__(self) -> None:
                super().__init__()
                self.kata_timers: list[tuple[asyncio.TimerHandle, Callable[..., Any]]] = []

            # uvloop's call_at goes through call_later: one override sees both.
            def call_later(  # type: ignore[override]
                self,
                delay: float,
                callback: Callable[..., object],
                *args: Any,
                context: contextvars.Context | None = None,
            ) -> asyncio.TimerHandle:
                handle = super().call_later(delay, callback, *args, context=context)
                self.kata_timers.append((handle, callback))
                return handle

        return {"uvloop": TimedLoop}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    unlocked = _unlocked_stages()
    later_stages = [item for item in items if _stage(item) > unlocked(item.path.parent.name)]
    if later_stages:
        config.hook.pytest_deselected(items=later_stages)
        items[:] = [item for item in items if item not in later_stages]
    for item in items:
        if not item.path.is_relative_to(here):
            continue  # a session that also runs the repository's own tests
        marker = item.get_closest_marker("timeout")
        timeout = scaled(float(marker.args[0] if marker else config.getini("timeout")))
        item.add_marker(pytest.mark.timeout(timeout), append=False)
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            on_purpose = item.get_closest_marker("blocks_the_loop_on_purpose") is not None
            item.obj = _guarded(item.obj, DEADLINE_SHARE * timeout, on_purpose)


def _stage(item: pytest.Item) -> int:
    marker = item.get_closest_marker("stage")
    return int(marker.args[0]) if marker else 1


def _unlocked_stages() -> Callable[[str], float]:
    """The last stage to run for each kata: KATA_STAGE (a number, or "all"), else what the
    learner unlocked with `nox -s kata -- NN --stage N` (kept in .katas/state.json), else 1.
    The state file is read once per collection, not once per test."""
    chosen = os.environ.get("KATA_STAGE", "")
    if chosen == "all":
        return lambda kata: float("inf")
    if chosen.isdigit():
        return lambda kata: int(chosen)
    try:
        stages = json.loads(STATE.read_text(encoding="utf-8")).get("stages", {})
        return lambda kata: int(stages.get(kata, 1))
    except (OSError, ValueError, AttributeError, TypeError):
        return lambda kata: 1  # no state yet, or an unreadable one: the tools report that


def _guarded(test: AsyncTest, deadline: float, blocks_on_purpose: bool = False) -> AsyncTest:
    @functools.wraps(test)
    async def guarded(*args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = scaled(BLOCKING_THRESHOLD)
        if EAGER and sys.version_info >= (3, 12):
            loop.set_task_factory(asyncio.eager_task_factory)
        _repeat_the_timeout_alarm()
        with warnings.catch_warnings():  # what an earlier failed test left is not this one's
            warnings.simplefilter("ignore")
            gc.collect()
        before = asyncio.all_tasks()
        with (
            _asyncio_log() as records,
            warnings.catch_warnings(record=True) as caught,
            _no_automatic_garbage_collection(),
        ):
            warnings.simplefilter("always")
            # Not through the task factory: an eager test task would run its first step inside
            # the guard's own step, hiding a blocked loop from the detector.
            test_task = asyncio.Task(test(*args, **kwargs), name=test.__name__)
            done, _ = await asyncio.wait({test_task}, timeout=deadline)
            stuck = "" if done else _describe_stuck(test_task, before, deadline)
            left_behind, refused = await _stop_leftovers(before | {test_task})
            armed = _disarm_timers(loop, Path(inspect.getfile(test)).parent)
            if not done:
                refused += await _stop([test_task])
                stuck += _would_not_end(refused)
            for timeline in list(LIVE):
                timeline.forget_tracebacks()
            gc.collect()  # so "never awaited" and "never retrieved" surface in this test
        # A blocked loop first: it also makes the deadline pass, but it is the cause.
        if not blocks_on_purpose:
            _fail_on_blocked_loop(records, _timed_out(test_task), guard=asyncio.current_task())
        if stuck:
            pytest.fail(stuck, pytrace=False)
        never_awaited = _explain_never_awaited(caught)
        if never_awaited:
            pytest.fail(never_awaited, pytrace=False)
        test_task.result()  # the test's own verdict
        # Other warnings (a socket left unclosed) after the verdict: when the test failed, they
        # are most often what the failure left behind, not its cause.
        _reraise_other_warnings(caught)
        if left_behind:
            pytest.fail(left_behind, pytrace=False)
        if armed:
            pytest.fail(armed, pytrace=False)
        _fail_on_lost_errors(records)

    return guarded


@contextmanager
def _no_automatic_garbage_collection() -> Iterator[None]:
    """No collection of the whole heap in the middle of a step, where it would count as a
    blocked loop (up to 0.3 s with both cores busy, measured) and eat the timing margins. The
    guard collects before and after each test; a test that needs one mid-way asks for it
    (`harness.collect_garbage`)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _repeat_the_timeout_alarm() -> None:
    """Make pytest-timeout's alarm fire again every second after the first time.

    One alarm stops one blocked step; but when the next task is already queued and blocks too
    (a threading lock in async code, a time.sleep loop), only another alarm can stop it.
    """
    if hasattr(signal, "setitimer"):
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining, scaled(1.0))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _asyncio_log() -> Iterator[list[logging.LogRecord]]:
    """What asyncio logs during the test: slow callbacks, lost task errors."""
    logger = logging.getLogger("asyncio")
    collector = _Collector()
    logger.addHandler(collector)
    try:
        yield collector.records
    finally:
        logger.removeHandler(collector)


def _timed_out(test_task: asyncio.Task[Any]) -> str:
    """pytest-timeout's message when its signal stopped a loop that never gave control back."""
    if not test_task.done() or test_task.cancelled() or test_task.exception() is None:
        return ""
    text = str(test_task.exception())
    return text if text.startswith("Timeout") else ""


def _fail_on_blocked_loop(
    records: list[logging.LogRecord], timed_out: str, guard: asyncio.Task[Any] | None
) -> None:
    __tracebackhide__ = True
    # The guard's own steps (collecting garbage, checking tasks) are not the learner's code.
    own = f"name='{guard.get_name()}'" if guard else "\0"
    slow = [
        (cast(float, r.args[1]), str(r.args[0]))
        for r in records
        if r.msg == "Executing %s took %.3f seconds"
        and isinstance(r.args, tuple)
        and own not in str(r.args[0])
    ]
    if not slow:
        return
    seconds, handle = max(slow)
    # "<Task ... coro=<task() running at katas/04_gather/gather.py:9> ...>": name the coroutine.
    where = re.search(r"coro=<([\w.<>]+)\(\)(?: running at| done, defined at) (\S+?:\d+)>", handle)
    culprit = _culprit(where[1], _short_paths(where[2])) if where else _short_paths(handle)
    pytest.fail(
        f"The event loop was blocked for {seconds:.2f} s by {culprit}: it ran that long "
        "without reaching an `await`, so no other task could make progress.\n"
        + (
            f"It never gave control back: the test was stopped by {timed_out}\n"
            if timed_out
            else ""
        )
        + "Likely cause: time.sleep() where `await asyncio.sleep()` belongs, a blocking call "
        "(requests, reading a big file, a sync database driver, a threading.Lock or "
        "threading.Semaphore) or a long computation.\n"
        "Try: `await asyncio.sleep(...)` to wait; `await asyncio.to_thread(...)` for blocking "
        "or CPU-heavy work.",
        pytrace=False,
    )


def _culprit(coroutine: str, location: str) -> str:
    if coroutine.startswith("test_"):
        return "the code this test called"
    if location.startswith("katas/_harness/"):  # a spy: the learner's function runs inside
        return f"{coroutine}()"
    return f"{coroutine}() ({location})"


def _fail_on_lost_errors(records: list[logging.LogRecord]) -> None:
    __tracebackhide__ = True
    lost = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    if lost:
        pytest.fail(
            "A task failed or was destroyed while nobody was awaiting it:\n  "
            + _short_paths(lost[0].splitlines()[0])
            + "\nTry: keep every task you create and await it (or use a TaskGroup), so its "
            "error reaches you.",
            pytrace=False,
        )


def _reraise_other_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Give every warning but a never-awaited coroutine back to pytest's filters."""
    for w in caught:
        if not _never_awaited(w):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _never_awaited(w: warnings.WarningMessage) -> str:
    """The name of the coroutine the warning says was never awaited, or ""."""
    found = re.match(r"coroutine '(.+?)' was never awaited", str(w.message))
    return found.group(1) if found and issubclass(w.category, RuntimeWarning) else ""


def _explain_never_awaited(caught: list[warnings.WarningMessage]) -> str:
    """Explain never-awaited coroutines, the cause of whatever failed after them."""
    explained = []
    for w in caught:
        if coroutine := _never_awaited(w):
            name = coroutine.rsplit(".", 1)[-1]
            text = str(w.message)
            origin = [line for line in text.splitlines() if line.strip().startswith("File ")]
            created = f"\n  created at {_short_paths(origin[-1].strip())}" if origin else ""
            explained.append(
                f"{name}() was called but never awaited: calling an async function only "
                f"creates a coroutine object, and nothing in it runs until it is awaited.{created}"
                f"\nTry: `await {name}(...)`, or hand it to asyncio.gather / create_task and "
                "await that; a coroutine you decide not to run, close() it."
            )
    return "\n".join(dict.fromkeys(explained))


async def _stop_leftovers(known: set[asyncio.Task[Any]]) -> tuple[str, list[str]]:
    """Cancel the tasks the test left running; describe them, and those that would not end."""
    leftovers = [t for t in asyncio.all_tasks() if t not in known]
    if not leftovers:
        return "", []
    names = "\n".join(f"  - {_task_text(t)}" for t in leftovers)
    refused = await _stop(leftovers)
    return (
        f"{len(leftovers)} task(s) were still running when the test ended:\n{names}"
        f"{_would_not_end(refused)}\n"
        "A task you create and never await keeps running behind your back (and its errors "
        "are lost).\nTry: keep a reference to every task and await it before returning, or "
        "create them in `async with asyncio.TaskGroup()`, which waits for you."
    ), refused


async def _stop(tasks: list[asyncio.Task[Any]]) -> list[str]:
    """Cancel the tasks and wait for them; describe each one that would not end, then end it
    for good: pytest-asyncio's teardown waits for every task without a time limit, and
    pytest-timeout's alarm is off by then in a test that failed, so one task that cannot end
    would hang the run for ever."""
    for task in tasks:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=_grace())
    if not pending:
        return []
    refused = [_refusal(task) for task in pending]
    for task in pending:
        # GeneratorExit at the await it is stuck in: an `except CancelledError` there does
        # not catch it. The task then ends with the RuntimeError of a closed coroutine.
        with contextlib.suppress(Exception):  # raised by its `finally:` on the way out
            coro = task.get_coro()
            if coro is not None:
                coro.close()
        task.cancel()
    await asyncio.wait(pending, timeout=_grace())
    for task in pending:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: not "Task exception was never retrieved" later
    return refused


def _grace() -> float:
    """How long the guard waits for cancelled tasks to end: a scaled second, or half the time
    left before pytest-timeout's alarm if that is less: the alarm would stop the guard before
    it could say what it found."""
    left = signal.getitimer(signal.ITIMER_REAL)[0] if hasattr(signal, "getitimer") else 0.0
    return min(scaled(1.0), left / 2) if left else scaled(1.0)


def _would_not_end(refused: list[str]) -> str:
    if not refused:
        return ""
    return f"\n{len(refused)} of them would not end when cancelled:\n" + "\n".join(
        f"  - {text}" for text in refused
    )


def _refusal(task: asyncio.Task[Any]) -> str:
    """Why a cancelled task has not ended: stuck taking a Condition's lock back, or its code
    caught the CancelledError and carried on; and where it waits."""
    own = [f for _, f in awaiting(task) if Path(f.f_code.co_filename).parent not in LIBRARY]
    # The learner's line rather than a spy of the test file's that it went through.
    learners = [f for f in own if not Path(f.f_code.co_filename).name.startswith("test_")]
    where = f", at {_frame_text((learners or own)[-1])}" if own else ""
    condition = _retaking(task)
    if condition is None:
        return (
            f"{_task_text(task)} ignored cancellation{where}: is a CancelledError being swallowed?"
        )
    return (
        f"{_task_text(task)} is stuck in Condition.wait(){where}, and cannot finish its "
        "cancellation: wait() takes the condition's lock back before it raises "
        f"CancelledError, and {_holder(condition)}.\n"
        "    Try: `async with condition:` wherever the lock is taken, so that it is released "
        "however the block ends."
    )


def _retaking(task: asyncio.Task[Any]) -> asyncio.Condition | None:
    """The Condition whose lock the task waits to take back inside Condition.wait(): wait()
    re-acquires it before it returns, and before its CancelledError goes on up."""
    for (name, frame), (inner, _) in itertools.pairwise(awaiting(task)):
        if name == "Condition.wait" and inner.endswith(".acquire"):
            condition = frame.f_locals.get("self")
            return condition if isinstance(condition, asyncio.Condition) else None
    return None


def _holder(condition: asyncio.Condition) -> str:
    """Who holds the lock a task stuck in Condition.wait() waits for, as far as the run shows."""
    running = [
        t
        for t in asyncio.all_tasks()
        if not t.done() and t is not asyncio.current_task() and _retaking(t) is not condition
    ]
    if running:
        return "that lock is still held: taken with acquire() and not released"
    return (
        "that lock is still held by a task that has ended: one took it (`await "
        "condition.acquire()`) and returned without `condition.release()`"
    )


def _disarm_timers(loop: asyncio.AbstractEventLoop, kata: Path) -> str:
    """Cancel the timers (loop.call_later / call_at) the kata's own code left armed; describe them.

    Only timers whose callback lives in the kata's folder count (not the test file's, not
    asyncio's own). Read from asyncio's loop, or from what the stress variant's uvloop kept.
    """
    armed = []
    timers = getattr(loop, "kata_timers", None)
    if timers is None:
        timers = [(h, getattr(h, "_callback", None)) for h in getattr(loop, "_scheduled", [])]
    for handle, callback in list(timers):
        code = _code_of(callback)
        when = handle.when() if hasattr(handle, "when") else None
        if handle.cancelled() or code is None or when is None or when < loop.time():
            continue  # cancelled, not the kata's, fired already (or a call_soon: uvloop's 0 s)
        where = Path(code.co_filename)
        if where.parent == kata and not where.name.startswith("test_"):
            armed.append(
                f"  - {code.co_name}() ({where.name}:{code.co_firstlineno}), due in "
                f"{max(when - loop.time(), 0):.2f} s"
            )
            handle.cancel()
    if not armed:
        return ""
    return (
        f"{len(armed)} timer(s) set with loop.call_later/call_at were still armed when the "
        "test ended:\n" + "\n".join(armed) + "\n"
        "A timer nobody cancels fires later, into an object that is closed or gone.\n"
        "Try: keep the handle that call_later returns and call handle.cancel() when the timer "
        "is no longer wanted (on every new schedule, and when you close or stop)."
    )


def _code_of(callback: Any) -> Any:
    """The code object of a timer's callback: a function, a bound method or a partial."""
    while isinstance(callback, functools.partial):
        callback = callback.func
    callback = getattr(callback, "__func__", callback)
    return getattr(callback, "__code__", None)


def _describe_stuck(
    test_task: asyncio.Task[Any], before: set[asyncio.Task[Any]], deadline: float
) -> str:
    tasks = [test_task] + [t for t in asyncio.all_tasks() if t not in before and t is not test_task]
    chains = "\n".join(f"  {_task_text(t)}\n" + _await_chain(t) + _retake_note(t) for t in tasks)
    return (
        f"The test did not finish within {deadline:.1f} s: "
        "something is waiting for an event that never happens (a deadlock, a lock never "
        "released, a queue nobody fills, a task that waits for itself).\n"
        f"Stuck awaits, outermost first:\n{chains}"
    )


def _task_text(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    # __name__ first: a probe's wrapper (harness.started_tasks) carries the inner one's name.
    name = getattr(coro, "__name__", None) or (code.co_name if code else repr(coro))
    return f"task {task.get_name()!r} running {name}()"


def _await_chain(task: asyncio.Task[Any]) -> str:
    return "\n".join(f"    {_frame_text(frame)}" for _, frame in awaiting(task))


def _retake_note(task: asyncio.Task[Any]) -> str:
    """For a task woken in Condition.wait() that cannot take the lock back: why it waits."""
    condition = _retaking(task)
    if condition is None:
        return ""
    return (
        "\n    (woken in Condition.wait(), it waits to take the condition's lock back, and "
        f"{_holder(condition)}. Try: `async with condition:` wherever the lock is taken)"
    )


def _frame_text(frame: FrameType) -> str:
    """'katas/17_condition/condition.py:12 in consume: await condition.wait()'"""
    source = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    path = _short_paths(frame.f_code.co_filename)
    return f"{path}:{frame.f_lineno} in {frame.f_code.co_name}: {source}"


def _short_paths(text: str) -> str:
    """Paths relative to the working folder, and stdlib paths from their package."""
    text = text.replace(os.getcwd() + os.sep, "")
    return re.sub(r"/\S*/lib/python3\.\d+/", "", text)
