from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import pairwise

import debounce
import pytest
from harness import EARLY, MARGIN, Timeline, cancel_midway, fail, scaled, started_tasks

QUIET = 0.1  # seconds of calm the debouncer waits for
INTERVAL = 0.1  # seconds the throttler keeps between two calls, at least
GAP = 0.02  # seconds between two pushes of a burst
APART = 0.3  # seconds between two bursts: more than QUIET
MAX_WAIT, STEP = 0.25, 0.04  # stage 2: the longest a burst waits; a steady stream's pushes

RESTART = (
    "Try: at every push, cancel the timer still armed (handle.cancel()) and arm a new one "
    "(loop.call_later(quiet, ...)), so the call comes `quiet` seconds after the LAST push."
)


async def test_a_burst_makes_one_call_with_the_last_value_a_quiet_period_after_it(
    timeline: Timeline,
) -> None:
    calls = Calls(timeline)
    debouncer = debounce.Debouncer(calls.action, scaled(QUIET))
    await calls.burst(debouncer, [1, 2, 3, 4, 5])
    await calls.until_called(1, within=QUIET + 2 * MARGIN)  # due QUIET after the last push
    # Then no other call may come: wait as long as the latest a right call may come.
    last_push = calls.pushed[-1][0]
    await asyncio.sleep(max(0.0, last_push + scaled(QUIET + MARGIN) - timeline.now()))
    await debouncer.aclose()
    call = f"5 pushes (1 to 5), {GAP:.2f} s apart, to Debouncer(action, quiet={QUIET})"
    expected = f"Expected: ONE call, action(5), {QUIET:.2f} s after the last push."
    if not calls.values:
        fail(
            f"{call}: action was never called, not even {QUIET + 2 * MARGIN:.2f} s after the "
            f"last push.\n{expected}\nTry: at every push, arm a timer of `quiet` seconds "
            "(loop.call_later) that calls the action when it fires.\n\n" + timeline.draw()
        )
    if calls.called_before_push(2):
        fail(
            f"{call}: action({calls.values[0]}) was called at once, on the first push (a "
            f"leading-edge debounce): calls {calls.values}.\n{expected}\nA debouncer waits "
            "until the pushes stop, then sends the last value: a burst of keystrokes must make "
            f"one search, for the whole word.\n{RESTART}\n\n{timeline.draw()}"
        )
    if len(calls.values) > 1:
        fail(
            f"{call}: action was called {len(calls.values)} times, with {calls.values}: a push "
            "did not cancel the timer armed by the push before it, so each one fired.\n"
            f"{expected}\n{RESTART}\n\n{timeline.draw()}"
        )
    if calls.values != [5]:
        mistake = (
            "the FIRST value of the burst: each push must replace the value waiting, so that "
            "the call sends the latest one"
            if calls.values == [1]
            else "not the last value pushed: each push must replace the value waiting"
        )
        fail(
            f"{call}: action was called once, with {calls.values[0]}, {mistake}.\n{expected}"
            f"\n\n{timeline.draw()}"
        )
    after_last, after_first = calls.at[0] - last_push, calls.at[0] - calls.pushed[0][0]
    if after_last < EARLY * scaled(QUIET):
        fail(
            f"{call}: action(5) came {after_last:.2f} s after the last push, "
            f"{after_first:.2f} s after the first one: the quiet period was counted from the "
            f"FIRST push of the burst, and the later pushes did not restart it.\n{expected} "
            f"({bounds(QUIET)})\n{RESTART}\n\n{timeline.draw()}"
        )
    check(
        about(after_last, QUIET),
        f"{call}: action(5) came {after_last:.2f} s after the last push: later than the quiet "
        f"period.\n{expected} ({bounds(QUIET)})\nTry: one timer of exactly `quiet` seconds, "
        f"armed at the last push.\n\n{timeline.draw()}",
    )


async def test_bursts_further_apart_than_the_quiet_period_make_a_call_each(
    timeline: Timeline,
) -> None:
    calls = Calls(timeline)
    debouncer = debounce.Debouncer(calls.action, scaled(QUIET))
    await calls.burst(debouncer, [1, 2, 3])
    await asyncio.sleep(scaled(APART))
    await calls.burst(debouncer, [4, 5, 6])
    await calls.until_called(2, within=QUIET + 2 * MARGIN)
    await debouncer.aclose()
    check(
        calls.values == [3, 6],
        f"Two bursts of pushes (1 to 3, then 4 to 6), {APART:.2f} s apart, to Debouncer(action, "
        f"quiet={QUIET}) made the calls {calls.values}.\n"
        "Expected: [3, 6], one call per burst with its last value: a pause longer than the "
        "quiet period ends a burst, and the next push starts a new one.\n"
        "Try: after a call, leave nothing behind that stops the next push from arming a new "
        f"timer (a fired timer still kept as 'armed', a flag never reset).\n\n{timeline.draw()}",
    )


async def test_aclose_waits_for_a_call_in_progress(timeline: Timeline) -> None:
    calls = Calls(timeline, takes=0.1)
    debouncer = debounce.Debouncer(calls.action, scaled(QUIET))
    calls.push(debouncer, 1)
    called = await calls.until_called(1, within=QUIET + 2 * MARGIN)
    check(
        called,
        f"push(1) to Debouncer(action, quiet={QUIET}): action was not called within "
        f"{QUIET + 2 * MARGIN:.2f} s.\nExpected: action(1), {QUIET:.2f} s after the push.\n\n"
        + timeline.draw(),
    )
    await debouncer.aclose()
    check(
        timeline.span("action(1)").end is not None,
        "push(1), then aclose() while action(1) was running: aclose() returned while "
        "action(1) was still running. Whoever closes the debouncer expects its work to be done "
        "(the last search sent, the draft saved), and the call goes on behind their back.\n"
        "Expected: aclose() returns once every call of action has finished.\n"
        "Try: keep the task of every call (a set; a done callback removes it) and await them "
        f"in aclose(): `await asyncio.gather(*calls)`.\n\n{timeline.draw()}",
    )
    check(
        not timeline.span("action(1)").cancelled,
        "aclose(), called while action(1) was running, cancelled that call: closing must let "
        "the calls in progress finish (their work is wanted: a save, a search).\n"
        "Try: keep the task of every call and await them in aclose() "
        f"(asyncio.gather(*calls)); cancel only the timer.\n\n{timeline.draw()}",
    )


async def test_aclose_sends_the_value_still_waiting_at_once_and_nothing_after(
    timeline: Timeline,
) -> None:
    calls = Calls(timeline)
    debouncer = debounce.Debouncer(calls.action, scaled(QUIET))
    calls.push(debouncer, 1)
    calls.push(debouncer, 2)
    call = "push(1), push(2), then at once aclose()"
    with timeline.expect_duration(
        0,
        what=call,
        too_slow="aclose() waited for the quiet period before it sent the value waiting.",
        advice="in aclose(), cancel the timer and send the value waiting right away.",
    ):
        await debouncer.aclose()
    if calls.values != [2]:
        mistake = (
            "action(2) had not been called: aclose() dropped the value still waiting, or "
            "returned before it had sent it"
            if not calls.values
            else "expected 2, the latest value, once"
        )
        fail(
            f"{call}: when aclose() returned, action had been called with {calls.values}: "
            f"{mistake}.\nExpected: [2]: closing sends the last value now; it is not lost.\n"
            "Try: in aclose(), if a timer is armed, cancel it and call the action with the "
            f"value waiting; then await that call.\n\n{timeline.draw()}"
        )
    # The test ends here: a timer of yours still armed, or a task still waiting to send, is
    # reported by the harness (it would fire after aclose(), into a closed debouncer).


async def test_a_push_during_a_call_does_not_cancel_it(timeline: Timeline) -> None:
    calls = Calls(timeline, takes=0.1)
    debouncer = debounce.Debouncer(calls.action, scaled(QUIET))
    calls.push(debouncer, 1)
    await calls.until_called(1, within=QUIET + 2 * MARGIN)
    calls.push(debouncer, 2)  # action(1) is running
    for _ in range(5):
        await asyncio.sleep(0)  # a cancellation the push asked for lands now
    first = timeline.span("action(1)")
    check(
        not first.cancelled,
        "push(2), made while action(1) was running, cancelled that call: only a timer that "
        "has not fired yet may be cancelled. Once the quiet period is over, the call belongs "
        "to nobody but itself.\nLikely mistake: one task that sleeps `quiet` seconds and then "
        "awaits the action, cancelled at every push, even after its sleep is over.\n"
        "Try: arm the timer with loop.call_later(quiet, send), where send() starts the call "
        "in a task of its own; at a push, cancel only the timer.\n\n" + timeline.draw(),
    )
    await debouncer.aclose()
    call = "push(1), its call, push(2) during that call, then aclose()"
    check(
        not first.cancelled,
        f"{call}: push(2) left action(1) running, right, but aclose() cancelled it. Closing "
        "stops what is only scheduled (the timer) and sends the value waiting; the calls "
        "already running are work someone wants done (a search, a save).\n"
        "Expected: action(1) runs to its end, then action(2), sent by aclose().\n"
        "Try: in aclose(), cancel the timer only, send the value waiting, and await every "
        f"call in progress: `await asyncio.gather(*calls)`.\n\n{timeline.draw()}",
    )
    check(
        calls.values == [1, 2],
        f"{call}: action was called with {calls.values}.\nExpected: [1, 2]: the call of 1 "
        "runs to its end, and aclose() sends 2, the value still waiting, at once.\n\n"
        + timeline.draw(),
    )


async def test_a_cancelled_aclose_stops_the_calls_in_progress(timeline: Timeline) -> None:
    calls = Calls(timeline, takes=0.2)
    debouncer = debounce.Debouncer(calls.action, scaled(QUIET))
    calls.push(debouncer, 1)
    await calls.until_called(1, within=QUIET + 2 * MARGIN)
    calls.push(debouncer, 2)  # action(1) runs; 2 waits for its quiet period
    call = "push(1), its call (0.2 s), push(2), then aclose(), cancelled 0.05 s later"
    # Fails if aclose() swallowed its cancellation, or left a call it started running.
    what = "Debouncer.aclose(), called while action(1) ran and 2 waited,"
    await cancel_midway(debouncer.aclose(), after=0.05, what=what, timeline=timeline)
    check(
        timeline.span("action(1)").cancelled,
        f"{call}: {call_left(timeline)}: "
        "cancelling aclose() (a shutdown deadline) did not stop the call it was waiting for.\n"
        "Expected: a cancelled aclose() cancels the calls it waits for, and they have stopped "
        "by the time its CancelledError goes on.\n"
        "Try: `await asyncio.gather(*calls)`: cancelled, it cancels them all and waits for "
        f"them (asyncio.wait() stops waiting and leaves them running).\n\n{timeline.draw()}",
    )


async def test_the_first_push_to_a_throttler_calls_the_action_at_once(timeline: Timeline) -> None:
    calls = Calls(timeline)
    throttler = debounce.Throttler(calls.action, scaled(INTERVAL))
    with timeline.expect_duration(
        0,
        what=f"push(1) to a new Throttler(action, interval={INTERVAL}) until action(1)",
        too_slow="the first push waited. A throttle calls at once on the first push (the "
        "leading edge); only the pushes that come during the interval after it wait.",
        advice="when no interval is running, call the action at once (in a task: push() is "
        "not async), and let that call start the interval.",
    ):
        calls.push(throttler, 1)
        await calls.until_called(1, within=INTERVAL + 2 * MARGIN)
    await throttler.aclose()
    check(
        calls.values == [1],
        f"push(1) to a new Throttler, then aclose(): action was called with {calls.values}.\n"
        f"Expected: [1], at once.\n\n{timeline.draw()}",
    )


async def test_pushes_during_the_interval_are_sent_once_at_its_end_with_the_latest_value(
    timeline: Timeline,
) -> None:
    calls = Calls(timeline)
    throttler = debounce.Throttler(calls.action, scaled(INTERVAL))
    calls.push(throttler, 1)
    await calls.until_called(1, within=INTERVAL + 2 * MARGIN)
    await calls.burst(throttler, [2, 3, 4])  # all within the interval of action(1)
    trailing = await calls.until_called(2, within=INTERVAL + 2 * MARGIN)
    await throttler.aclose()
    call = f"push(1), then 2, 3, 4 during the next {2 * GAP:.2f} s, to Throttler(interval=0.1)"
    expected = f"Expected: action(1) at once, then action(4) {INTERVAL:.2f} s after it."
    if not trailing:
        fail(
            f"{call}: action was called with {calls.values} only: the values pushed during the "
            "interval were dropped.\nA throttle keeps the LATEST value pushed during the "
            "interval and sends it when the interval ends (the trailing edge): the last value "
            f"is never lost.\n{expected}\nTry: keep the value that waits, and a task that sends "
            f"it once the interval is over.\n\n{timeline.draw()}"
        )
    check(
        calls.values == [1, 4],
        f"{call}: action was called with {calls.values}: the call at the end of the interval "
        "must send the latest value pushed during it (4), once; the values before it are "
        f"replaced, not queued.\n{expected}\n\n{timeline.draw()}",
    )
    apart = calls.at[1] - calls.at[0]
    check(
        about(apart, INTERVAL),
        f"{call}: action(4) came {apart:.2f} s after action(1).\n{expected} "
        f"({bounds(INTERVAL)})\nTry: the interval starts with a call; send the value waiting "
        f"when it ends.\n\n{timeline.draw()}",
    )


async def test_a_steady_stream_is_sent_once_per_interval_and_its_last_value_too(
    timeline: Timeline,
) -> None:
    calls = Calls(timeline)
    throttler = debounce.Throttler(calls.action, scaled(INTERVAL))
    stream = list(range(1, 14))  # 13 pushes, 20 ms apart: 0.24 s
    await calls.burst(throttler, stream)
    last = await calls.until_sent(stream[-1], within=INTERVAL + 2 * MARGIN)
    await throttler.aclose()
    call = f"13 pushes (1 to 13), {GAP:.2f} s apart, to Throttler(action, interval={INTERVAL})"
    expected = (
        f"Expected: a call every {INTERVAL:.2f} s while the pushes come, with the latest value, "
        "and the last value (13) sent at the end."
    )
    for (before, earlier), (value, later) in pairwise(zip(calls.values, calls.at, strict=True)):
        apart = later - earlier
        check(
            apart >= EARLY * scaled(INTERVAL),
            f"{call}: action({before}) and action({value}) came only {apart:.2f} s apart: "
            f"closer than the interval ({INTERVAL:.2f} s), so the throttle did not hold the "
            f"calls back.\n{expected}\nTry: after a call, keep the pushes of the next "
            f"{INTERVAL:.2f} s waiting (only the latest), and send it when the interval ends."
            f"\n\n{timeline.draw()}",
        )
        check(
            apart <= scaled(INTERVAL + MARGIN),
            f"{call}: {apart:.2f} s passed between action({before}) and action({value}) while "
            f"values kept coming every {GAP:.2f} s: a throttle sends the latest value as soon "
            "as each interval ends. Restarting the wait at every push makes it a debounce, "
            f"which does not call while the pushes go on.\n{expected}\nTry: the interval "
            f"starts with a call, never with a push.\n\n{timeline.draw()}",
        )
    check(
        last,
        f"{call}: the last value, 13, was never sent (calls: {calls.values}): a value pushed "
        "during the interval must wait for its end, not be dropped.\n"
        f"{expected}\n\n{timeline.draw()}",
    )


async def test_throttler_aclose_sends_the_value_still_waiting_when_the_interval_ends(
    timeline: Timeline,
) -> None:
    calls = Calls(timeline)
    throttler = debounce.Throttler(calls.action, scaled(INTERVAL))
    calls.push(throttler, 1)
    await calls.until_called(1, within=INTERVAL + 2 * MARGIN)
    calls.push(throttler, 2)
    await throttler.aclose()
    call = f"push(1), its call, push(2), then at once aclose() (interval={INTERVAL})"
    check(
        calls.values == [1, 2],
        f"{call}: when aclose() returned, action had been called with {calls.values}: "
        "aclose() dropped the value still waiting.\n"
        f"Expected: [1, 2]: closing still sends the last value, {INTERVAL:.2f} s after "
        "action(1).\nTry: in aclose(), await the task that sends the value waiting.\n\n"
        + timeline.draw(),
    )
    apart = calls.at[1] - calls.at[0]
    check(
        about(apart, INTERVAL),
        f"{call}: action(2) came {apart:.2f} s after action(1): "
        + (
            "aclose() sent it at once, breaking the rate limit: the interval holds for the "
            "last value too."
            if apart < EARLY * scaled(INTERVAL)
            else "later than the end of the interval."
        )
        + f"\nExpected: {INTERVAL:.2f} s after action(1) ({bounds(INTERVAL)}).\n"
        "Try: in aclose(), await the task that sends the value waiting when the interval ends."
        f"\n\n{timeline.draw()}",
    )


async def test_throttler_aclose_with_nothing_waiting_does_not_wait_out_the_interval(
    timeline: Timeline,
) -> None:
    calls = Calls(timeline)
    throttler = debounce.Throttler(calls.action, scaled(INTERVAL))
    calls.push(throttler, 1)
    await calls.until_called(1, within=INTERVAL + 2 * MARGIN)
    with timeline.expect_duration(
        0,
        what=f"push(1), its call, then aclose() with nothing waiting (interval={INTERVAL})",
        too_slow="aclose() waited out the interval although no value was waiting: the "
        "interval only holds back a next call, and there is none.",
        advice="let the sender stop as soon as nothing waits (check before you sleep, not "
        "after each call), so that aclose() returns once the calls in progress are done.",
    ):
        await throttler.aclose()
    check(
        calls.values == [1],
        f"push(1), then aclose(): action was called with {calls.values}.\nExpected: [1].\n\n"
        + timeline.draw(),
    )


async def test_throttler_aclose_waits_for_a_call_in_progress(timeline: Timeline) -> None:
    calls = Calls(timeline, takes=0.1)
    throttler = debounce.Throttler(calls.action, scaled(INTERVAL))
    calls.push(throttler, 1)
    await calls.until_called(1, within=INTERVAL + 2 * MARGIN)
    await throttler.aclose()
    first = timeline.span("action(1)")
    check(
        first.end is not None and not first.cancelled,
        "push(1) to a Throttler, then aclose() while action(1) was running: aclose() "
        + (
            "cancelled it"
            if first.cancelled
            else "returned before action(1) had finished: the call goes on behind the back of "
            "whoever closed the throttler"
        )
        + ".\nExpected: aclose() returns once every call has finished (the draft is saved).\n"
        "Try: let the sender await each call (or keep the calls' tasks and await them in "
        f"aclose()).\n\n{timeline.draw()}",
    )


async def test_a_cancelled_throttler_aclose_stops_its_sender(timeline: Timeline) -> None:
    calls = Calls(timeline, takes=0.2)
    throttler = debounce.Throttler(calls.action, scaled(INTERVAL))
    with started_tasks() as started:
        calls.push(throttler, 1)
        await calls.until_called(1, within=INTERVAL + 2 * MARGIN)
        calls.push(throttler, 2)  # action(1) runs; 2 waits for the end of the interval
    call = "push(1), its call (0.2 s), push(2), then aclose(), cancelled 0.05 s later"
    what = "Throttler.aclose(), called while action(1) ran and 2 waited,"
    await cancel_midway(throttler.aclose(), after=0.05, what=what, timeline=timeline)
    left = [f"{getattr(task.get_coro(), '__name__', task)}()" for task in started.still_running()]
    check(
        not left and timeline.span("action(1)").cancelled,
        f"{call}: "
        + (
            f"when the cancellation reached aclose(), the task(s) {', '.join(left)} were still "
            "running"
            if left
            else call_left(timeline)
        )
        + ": cancelling aclose() (a shutdown deadline) did not stop the throttler's work.\n"
        "Expected: a cancelled aclose() stops the sender and its call, and they have stopped "
        "by the time its CancelledError goes on.\n"
        "Try: `await` the sender task in aclose(): a cancelled await of a task cancels that "
        f"task, and waits for it.\n\n{timeline.draw()}",
    )


@pytest.mark.stage(2)
async def test_a_steady_stream_is_still_sent_every_max_wait(timeline: Timeline) -> None:
    calls = Calls(timeline)
    debouncer = debounce.Debouncer(calls.action, scaled(QUIET), max_wait=scaled(MAX_WAIT))
    stream = list(range(1, 11))  # 10 pushes, 40 ms apart: 0.36 s without a quiet period
    await calls.burst(debouncer, stream, gap=STEP)
    last = await calls.until_sent(stream[-1], within=QUIET + 2 * MARGIN)
    await debouncer.aclose()
    call = (
        f"10 pushes (1 to 10), {STEP:.2f} s apart, to Debouncer(action, quiet={QUIET}, "
        f"max_wait={MAX_WAIT})"
    )
    expected = (
        f"Expected: one call {MAX_WAIT:.2f} s after the first push with the latest value, "
        f"then the last value (10) {QUIET:.2f} s after the last push."
    )
    during = calls.called_before_push(stream[-1])
    if not during:
        fail(
            f"{call}: action was not called while the pushes went on (calls: {calls.values}): "
            f"with max_wait, a burst is sent at most {MAX_WAIT:.2f} s after its first push, "
            f"even if the pushes never stop.\n{expected}\nTry: note when the burst began "
            "(its first push); at every push, arm the timer for min(quiet, what is left of "
            f"max_wait).\n\n{timeline.draw()}"
        )
    if len(during) > 1:
        fail(
            f"{call}: action was called {len(during)} times while the pushes went on, with "
            f"{during}: after the first call, the max_wait of the next burst was counted from "
            "the first push of the first burst, so every push was overdue.\n"
            f"{expected}\nTry: a call ends the burst: the next push starts a new one, with a "
            f"fresh max_wait.\n\n{timeline.draw()}"
        )
    first = calls.at[0] - calls.pushed[0][0]
    check(
        about(first, MAX_WAIT),
        f"{call}: the first call came {first:.2f} s after the first push.\n{expected} "
        f"({bounds(MAX_WAIT)})\n\n{timeline.draw()}",
    )
    stale = calls.stale()
    check(
        not stale,
        f"{call}: {', '.join(stale)}.\nEach call sends the latest value pushed before it.\n"
        f"{expected}\n\n{timeline.draw()}",
    )
    check(
        last and calls.values[-1] == stream[-1],
        f"{call}: action was called with {calls.values}: the last value (10) was not sent "
        f"{QUIET:.2f} s after the last push.\n{expected}\n\n{timeline.draw()}",
    )


class Calls:
    """The action handed to the Debouncer or Throttler: records every push and call.

    Pushes and calls are marked on the timeline (drawn in failure messages) and kept in
    `events`, in the order they happened: "was called before that push" needs no clock.
    """

    def __init__(self, timeline: Timeline, takes: float = 0.0) -> None:
        self.timeline = timeline
        self.takes = takes  # seconds one call of the action takes (0: at once)
        self.values: list[int] = []  # the value of each call, in order
        self.at: list[float] = []  # when each call began, seconds on the timeline
        self.pushed: list[tuple[float, int]] = []  # (when, value) of each push
        self.events: list[str] = []  # "push 1", "call 1", ... in the order they happened
        self._called = asyncio.Event()

    async def action(self, value: int) -> None:
        self.values.append(value)
        self.at.append(self.timeline.now())
        self.events.append(f"call {value}")
        self._called.set()
        if self.takes:
            await self.timeline.work(f"action({value})", self.takes)
        else:
            self.timeline.mark(f"action({value})")

    def push(self, target: debounce.Debouncer[int] | debounce.Throttler[int], value: int) -> None:
        self.timeline.mark(f"push({value})")
        self.pushed.append((self.timeline.now(), value))
        self.events.append(f"push {value}")
        target.push(value)

    async def burst(
        self,
        target: debounce.Debouncer[int] | debounce.Throttler[int],
        values: list[int],
        gap: float = GAP,
    ) -> None:
        """Push `values`, `gap` seconds apart (on a fixed schedule: late pushes do not add up)."""
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for n, value in enumerate(values):
            await asyncio.sleep(max(0.0, begin + n * scaled(gap) - loop.time()))
            self.push(target, value)

    async def until_called(self, times: int, within: float) -> bool:
        """Wait until the action has been called `times` times; False if `within` s pass first."""
        called = await self._until(lambda: len(self.values) >= times, within)
        # Under stress (KATA_JITTER) fake work yields a little before it is on the timeline.
        for _ in range(5):
            if sum(s.label.startswith("action(") for s in self.timeline.spans) >= len(self.values):
                break
            await asyncio.sleep(0)
        return called

    async def until_sent(self, value: int, within: float) -> bool:
        """Wait until the action has been called with `value`; False if `within` s pass first."""
        return await self._until(lambda: value in self.values, within)

    async def _until(self, done: Callable[[], bool], within: float) -> bool:
        try:
            async with asyncio.timeout(scaled(within)):
                while not done():
                    self._called.clear()
                    await self._called.wait()
        except TimeoutError:
            return False
        return True

    def stale(self) -> list[str]:
        """The calls that sent an older value than one pushed well before them, in words.

        For streams of growing values. A push up to MARGIN before a call does not count: the
        call may have been decided (its value taken) just before, and started just after.
        """
        found = []
        for value, at in zip(self.values, self.at, strict=True):
            well_before = [
                (when, v) for when, v in self.pushed if v > value and when <= at - scaled(MARGIN)
            ]
            if well_before:
                when, latest = well_before[-1]
                found.append(
                    f"action({value}) was called when the latest value, {latest}, had been "
                    f"pushed {at - when:.2f} s before"
                )
        return found

    def called_before_push(self, value: int) -> list[int]:
        """The values the action was called with before `push(value)` was made."""
        before = self.events[: self.events.index(f"push {value}")]
        return [int(event.split()[1]) for event in before if event.startswith("call")]


def call_left(timeline: Timeline) -> str:
    """What became of action(1), which should have been cancelled with aclose()."""
    first = timeline.span("action(1)")
    if first.end is None:
        return "when the cancellation reached aclose(), action(1) was still running"
    return (
        f"action(1) ran to its end at {timeline.drawn(first.end):.2f} s: aclose() waited it "
        "out after its own cancellation, instead of cancelling it"
    )


def check(ok: bool, message: str) -> None:
    """Fail with `message` alone (no assertion rewriting around it) unless `ok`."""
    __tracebackhide__ = True
    if not ok:
        fail(message)


def about(seconds: float, ideal: float) -> bool:
    """The timing rule: not earlier than 0.95 x ideal, not later than ideal + 50 ms (scaled)."""
    return EARLY * scaled(ideal) <= seconds <= scaled(ideal) + scaled(MARGIN)


def bounds(ideal: float) -> str:
    return f"between {EARLY * scaled(ideal):.3f} s and {scaled(ideal + MARGIN):.3f} s"
