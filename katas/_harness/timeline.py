"""The kata harness: fake work that keeps a timeline, concurrency probes and wall-clock checks.

Kata tests get a `timeline` fixture (see conftest.py) and stay short: this module does the
measuring and the explaining. Every failure says what happened (measured), what was expected,
the likely mistake and what to try, and draws the timeline when timing is the point.

Delays and margins stretch with KATA_TIME_SCALE (e.g. KATA_TIME_SCALE=3 on a slow machine).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import os
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


def _time_scale() -> tuple[float, str]:
    """KATA_TIME_SCALE as a number, or 1 and the reason it is unusable (conftest reports it)."""
    raw = os.environ.get("KATA_TIME_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = -1.0
    if scale > 0:
        return scale, ""
    return 1.0, f"KATA_TIME_SCALE must be a positive number such as 2 or 1.5, not {raw!r}"


TIME_SCALE, TIME_SCALE_PROBLEM = _time_scale()
# Stress mode (nox -s stress): fake work varies its delays slightly and yields at random points,
# to prove a kata measures behaviour, not one lucky scheduling.
JITTER = os.environ.get("KATA_JITTER", "") not in ("", "0")
# Scheduling overhead of a sleep-bound gather: 17 ms at p99 with both cores busy, 48 ms worst seen.
MARGIN = 0.05
# The tolerated early finish (timers may fire a little early on coarse clocks).
EARLY = 0.95


def scaled(seconds: float) -> float:
    """A delay or margin stretched by KATA_TIME_SCALE."""
    return seconds * TIME_SCALE


def _fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


# Every Timeline of the running test, so the guard can release what they hold (see conftest).
LIVE: weakref.WeakSet[Timeline] = weakref.WeakSet()


@dataclass
class Span:
    """One call of fake work: when it started and ended, in seconds since the timeline began."""

    label: str
    start: float
    end: float | None = None
    cancelled: bool = False
    task: asyncio.Task[Any] | None = None  # the task the call ran in
    error: Exception | None = None  # what the call raised, if it failed


class Timeline:
    """Instrumented fake work: records every call's start and end, counts calls in flight.

    Use `work(label, delay)` as a fake service call, `spy(module, name)` to record calls the
    learner's code makes to a coroutine function, `expect_duration(...)` to check wall-clock
    time, and `peak`, `started`, `finished` as probes that need no clock at all.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        LIVE.add(self)
        self._origin = time.perf_counter()
        self.spans: list[Span] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()  # a local server records its requests from its own thread

    def forget_tracebacks(self) -> None:
        """Drop the tracebacks of recorded errors: they keep frames (and coroutines) alive."""
        for span in self.spans:
            if span.error is not None:
                span.error.__traceback__ = None

    def now(self) -> float:
        """Seconds since this timeline began."""
        return time.perf_counter() - self._origin

    @contextmanager
    def record(self, label: str) -> Iterator[Span]:
        """Record the enclosed block as one call in flight (safe from another thread too)."""
        span = Span(label, self.now(), task=_current_task())
        with self._lock:
            self.spans.append(span)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield span
        except asyncio.CancelledError:
            span.cancelled = True
            raise
        finally:
            span.end = self.now()
            with self._lock:
                self.in_flight -= 1

    async def work(
        self, label: str, delay: float, result: Any = None, *, error: Exception | None = None
    ) -> Any:
        """Fake I/O: sleep for `delay` (scaled) while recorded on the timeline.

        Returns `result`, or raises `error` at the end of the delay (a failing service).
        """
        with self.record(label) as span:
            await _jitter()  # inside the span: a call cancelled meanwhile still shows
            await asyncio.sleep(scaled(delay) + (random.uniform(0, 0.01) if JITTER else 0))
            if error is not None:
                span.error = error
                raise error
        return result

    @asynccontextmanager
    async def heartbeat(self, every: float) -> AsyncIterator[list[float]]:
        """A task that notes the time every `every` seconds (scaled) while the block runs.

        It ticks only while the event loop is free, so a long gap between two ticks is the loop
        being blocked (and when), without waiting for asyncio's slow-callback report.
        """
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(self.now())
                await asyncio.sleep(scaled(every))

        ticker = asyncio.create_task(tick())
        try:
            yield ticks
        finally:
            ticker.cancel()
            await asyncio.wait({ticker})

    def mark(self, label: str) -> None:
        """Record an instant (a refused call, a signal sent) as a zero-length span."""
        now = self.now()
        self.spans.append(Span(label, now, now, task=_current_task()))

    def drawn(self, instant: float) -> float:
        """An instant (from `now()`) as `draw()` shows it: seconds since the first call began.

        A message that quotes times next to the drawing takes them from here, so both agree.
        """
        return instant - min((s.start for s in self.spans), default=0.0)

    def ran_on(self, failed: Span) -> list[Span]:
        """The calls in flight when `failed` raised that then ran to their end, not cancelled.

        After a failure that should stop the others, these were waited out, not stopped.
        """
        if failed.end is None:
            return []
        return [
            s
            for s in self.spans
            if s is not failed
            and s.start < failed.end
            and s.end is not None
            and s.end > failed.end
            and not s.cancelled
            and s.error is None
        ]

    def expect_none_ran_on(self, failed: Span, call: str, advice: str) -> None:
        """Fail if a call in flight when `failed` raised ran to its end, never cancelled."""
        __tracebackhide__ = True
        ran_on = self.ran_on(failed)
        if not ran_on:
            return
        names = " and ".join(f"{s.label} (at {self.drawn(s.end or 0):.2f} s)" for s in ran_on)
        pytest.fail(
            f"{call} raised only after {names} had run to {'its' if len(ran_on) == 1 else 'their'}"
            f" end, although {failed.label} had failed at {self.drawn(failed.end or 0):.2f} s: "
            "it waited out work whose result nobody will use, instead of cancelling it (no "
            f"cancellation reached {'it' if len(ran_on) == 1 else 'them'} while running).\n"
            "Expected: once one call fails, the calls still running are cancelled, and done "
            f"cancelling, before the error goes on up.\nTry: {advice}\n\n{self.draw()}",
            pytrace=False,
        )

    def find(self, label: str) -> Span | None:
        """The first recorded call with this label, or None if there was none."""
        return next((s for s in self.spans if s.label == label), None)

    def span(self, label: str) -> Span:
        """The first recorded call with this label."""
        __tracebackhide__ = True
        found = self.find(label)
        if found is None:
            pytest.fail(
                f"{label} was never called (recorded calls: {self.started or 'none'}): the "
                "code under test did not make that call at all.",
                pytrace=False,
            )
        return found

    def spy(self, module: object, name: str, label: Callable[..., str] | None = None) -> None:
        """Record every call the code under test makes to `module.name` (a coroutine function).

        The original still runs; the timeline just notes when each call started and ended.
        """
        original: Callable[..., Awaitable[Any]] = getattr(module, name)

        @functools.wraps(original)
        async def recorded(*args: Any, **kwargs: Any) -> Any:
            shown = label(*args, **kwargs) if label else _call_text(name, args, kwargs)
            with self.record(shown):
                await _jitter()
                return await original(*args, **kwargs)

        self._monkeypatch.setattr(module, name, recorded)

    @property
    def started(self) -> list[str]:
        """Labels in the order the calls started."""
        return [s.label for s in sorted(self.spans, key=lambda s: s.start)]

    @property
    def finished(self) -> list[str]:
        """Labels of the finished calls, in the order they ended."""
        done = [s for s in self.spans if s.end is not None and not s.cancelled]
        return [s.label for s in sorted(done, key=lambda s: s.end or 0.0)]

    def draw(self, width: int = 40) -> str:
        """The calls as a text chart, one row per call, so overlap (or its absence) is visible."""
        if not self.spans:
            return "Timeline: no call was recorded (was the function under test called at all?)"
        end = max(s.end if s.end is not None else self.now() for s in self.spans)
        begin = min(s.start for s in self.spans)
        step = max((end - begin) / width, 0.005)  # at least 5 ms a column, to stay readable
        name_width = max(len(s.label) for s in self.spans)
        rows = [f"Timeline (one row per call, each # is {step * 1000:.0f} ms, * an instant):"]
        for s in sorted(self.spans, key=lambda s: s.start):
            stop = s.end if s.end is not None else self.now()
            first = min(round((s.start - begin) / step), width - 1)
            last = min(max(round((stop - begin) / step), first + 1), width)
            bar = " " * first + ("*" if stop == s.start else "#" * (last - first))
            note = (
                " cancelled"
                if s.cancelled
                else f" failed: {type(s.error).__name__}"
                if s.error is not None
                else " still running"
                if s.end is None
                else ""
            )
            rows.append(
                f"  {s.label:<{name_width}} |{bar:<{width}}| "
                f"{s.start - begin:.2f}-{stop - begin:.2f} s{note}"
            )
        return "\n".join(rows)

    @contextmanager
    def expect_duration(
        self,
        ideal: float,
        *,
        sequential: float | None = None,
        delays: tuple[float, ...] = (),
        what: str = "the call",
        advice: str = "start every call before you await any of them "
        "(asyncio.gather or a TaskGroup).",
        too_early: str = "await every coroutine you start, and return only once the work is done.",
        too_slow: str = "some calls waited for others before they started.",
    ) -> Iterator[None]:
        """Check that the block takes about `ideal` seconds: not less, and not more than a margin.

        `sequential` is what one-after-another would take (default: the sum of `delays`); when
        the block takes that long, the message says the work ran in sequence. Otherwise a slow
        block gets the `too_slow` verdict and the `advice`; a fast one the `too_early` advice.
        """
        __tracebackhide__ = True
        if sequential is None and delays:
            sequential = sum(delays)
        started = time.perf_counter()
        yield
        took = time.perf_counter() - started
        low, high = EARLY * scaled(ideal), scaled(ideal) + scaled(MARGIN)
        if low <= took <= high:
            return
        expected = f"Expected: about {_fmt(scaled(ideal))} (between {_fmt(low)} and {_fmt(high)})."
        if took < low:
            verdict = (
                f"{what} took only {_fmt(took)}, less than the {_fmt(scaled(ideal))} "
                "the work needs: something did not wait. Is an `await` missing, or does it "
                "return before the work has finished?"
            )
            advice = too_early
        elif sequential is not None and took >= EARLY * scaled(sequential):
            parts = " + ".join(f"{scaled(d):.2f}" for d in delays) if delays else ""
            total = f" ({parts} = {_fmt(scaled(sequential))})" if parts else ""
            verdict = (
                f"{what} took {_fmt(took)}, which is the SUM of the delays{total}: "
                "the calls ran one after another."
            )
        else:
            faster = (
                f", yet faster than one after another ({_fmt(scaled(sequential))})"
                if sequential is not None
                else ""
            )
            verdict = (
                f"{what} took {_fmt(took)}: slower than the {_fmt(scaled(ideal))} it "
                f"needs{faster}: {too_slow}"
            )
        pytest.fail(f"{verdict}\n{expected}\nTry: {advice}\n\n{self.draw()}", pytrace=False)

    def expect_all_started_before_any_finished(self, what: str = "the calls") -> None:
        """Probe (no clock): every call started before the first one finished."""
        __tracebackhide__ = True
        if not self.spans:
            pytest.fail(f"No call was recorded: {what} never ran.", pytrace=False)
        first_end = min((s.end for s in self.spans if s.end is not None), default=None)
        late = [s.label for s in self.spans if first_end is not None and s.start >= first_end]
        if late:
            pytest.fail(
                f"{', '.join(late)} started only after another call had finished: "
                f"{what} did not all run at the same time.\n"
                "Expected: all of them in flight together.\n"
                "Try: create every task (or pass every coroutine to asyncio.gather) before "
                f"awaiting any of them.\n\n{self.draw()}",
                pytrace=False,
            )

    def expect_one_after_another(self, what: str = "the calls") -> None:
        """Probe (no clock): each call started only after the previous one had ended."""
        __tracebackhide__ = True
        ordered = sorted(self.spans, key=lambda s: s.start)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.end is None or later.start < earlier.end:
                pytest.fail(
                    f"{later.label} started at {later.start:.2f} s while {earlier.label} was "
                    f"still running: {what} did not wait for the previous one.\n"
                    "Expected: one after another, each starting once the previous one is done.\n"
                    "Try: `await` each call before making the next one.\n\n" + self.draw(),
                    pytrace=False,
                )

    def expect_overlap(self, first: str, second: str, what: str = "") -> None:
        """Probe (no clock): the calls `first` and `second` were in flight at the same time."""
        __tracebackhide__ = True
        a, b = self.span(first), self.span(second)
        a_end = a.end if a.end is not None else self.now()
        b_end = b.end if b.end is not None else self.now()
        if a.start < b_end and b.start < a_end:
            return
        before, after = (a, b) if a_end <= b.start else (b, a)
        pytest.fail(
            f"{after.label} started only after {before.label} had finished: they never ran at "
            f"the same time{', ' + what if what else ''}.\n"
            f"Expected: {first} and {second} in flight together.\n"
            "Try: start the one as a task (asyncio.create_task or a TaskGroup) before you "
            "await the other.\n\n" + self.draw(),
            pytrace=False,
        )


def _current_task() -> asyncio.Task[Any] | None:
    """The task running now, or None in a plain thread (one with no event loop)."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


# True in the tasks started inside `as_scheduled()`: their calls skip the jitter.
_AS_SCHEDULED = contextvars.ContextVar("as_scheduled", default=False)


@contextmanager
def as_scheduled() -> Iterator[None]:
    """Tasks started in this block call the code under test without stress mode's random yields.

    For a test that builds one exact interleaving to expose a mistake (two calls that must run
    back to back): jitter would shuffle the test's own set-up, not the learner's code.
    """
    token = _AS_SCHEDULED.set(True)
    try:
        yield
    finally:
        _AS_SCHEDULED.reset(token)


async def _jitter() -> None:
    """In stress mode, let other tasks run first a random number of times."""
    if JITTER and not _AS_SCHEDULED.get():
        for _ in range(random.randint(0, 2)):
            await asyncio.sleep(0)


def _call_text(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(shown)})"
