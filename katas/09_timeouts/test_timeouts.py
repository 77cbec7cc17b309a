from __future__ import annotations

import asyncio
import dis
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, cast

import pytest
import timeouts
from harness import EARLY, MARGIN, Timeline, cancel_midway, fail, scaled, task_origins
from timeouts import Fetch

DEADLINE = 0.2  # seconds, for one call and for a whole batch
FAST, SLOW = 0.1, 0.5  # recommendations that answer well before, or long after, the deadline
PICKS, BESTSELLERS = "picks for you", "bestsellers"
# Four airlines asked for a fare: (seconds to answer, fare). Two answer in time, two do not.
AIRLINES = {
    "Skylark": (0.1, "€89"),
    "Bluejay": (0.15, "€95"),
    "Puffin": (0.3, "€79"),
    "Dodo": (0.5, "€60"),
}
IN_TIME = {name: fare for name, (delay, fare) in AIRLINES.items() if delay < DEADLINE}
LATE = [name for name, (delay, _) in AIRLINES.items() if delay > DEADLINE]


DOWN = ConnectionError("service unavailable")  # what a failing service raises


async def test_a_fast_answer_comes_back_at_once_without_waiting_for_the_deadline(
    timeline: Timeline,
) -> None:
    fetch, call = recommendations(timeline, FAST)
    answer, took = await fallback(timeline, fetch, call)
    if answer != PICKS:
        fail(
            f"{call} returned {answer!r}, expected {PICKS!r}: the answer arrived after {FAST} s, "
            f"well within the {DEADLINE} s deadline, so fetch()'s own answer is due.\n"
            "Try: `return await fetch()` inside `async with asyncio.timeout(deadline)`."
        )
    waited_out = took >= EARLY * scaled(DEADLINE)
    expect_returned_in_about(
        timeline,
        took,
        FAST,
        call,
        too_late=(
            f"It waited out the whole {DEADLINE} s deadline although the answer came after "
            f"{FAST} s. Likely mistake: asyncio.sleep(deadline), then looking whether the call "
            "is done.\n"
            if waited_out
            else "It kept waiting after the answer had arrived.\n"
        )
        + "Try: wait for the call itself, and let the deadline only cut that wait short: "
        "`async with asyncio.timeout(deadline): return await fetch()`.",
        too_early="It returned before the call could have answered: await fetch() itself.",
    )


async def test_a_slow_call_gives_the_fallback(timeline: Timeline) -> None:
    fetch, call = recommendations(timeline, SLOW)
    answer, _ = await fallback(timeline, fetch, call)
    if answer == PICKS:
        mistake = (
            f"that is the slow call's own answer, which arrived after {SLOW} s, long past the "
            f"{DEADLINE} s deadline: nothing cut the await short."
        )
    else:
        mistake = f"the fallback is what a call that misses the deadline gives, not {answer!r}."
    if answer != BESTSELLERS:
        fail(
            f"{call} returned {answer!r}, expected the fallback {BESTSELLERS!r}: {mistake}\n"
            "Try: `async with asyncio.timeout(deadline): return await fetch()`, and return the "
            f"fallback in `except TimeoutError:`.\n\n{timeline.draw()}"
        )


async def test_the_fallback_comes_at_the_deadline_not_when_the_slow_call_ends(
    timeline: Timeline,
) -> None:
    fetch, call = recommendations(timeline, SLOW)
    _, took = await fallback(timeline, fetch, call)
    slow = timeline.span("fetch()")
    expect_returned_in_about(
        timeline,
        took,
        DEADLINE,
        call,
        too_late=(
            f"It waited for the slow call to finish ({SLOW} s) and decided only then: a deadline "
            "has to interrupt the wait, not be checked afterwards.\n"
            if slow.end is not None and not slow.cancelled
            else "It kept waiting after the deadline had passed.\n"
        )
        + "Try: `async with asyncio.timeout(deadline): return await fetch()` cancels the call "
        "at the deadline and raises TimeoutError, where you return the fallback.",
        too_early=f"It gave up before the deadline: the call deserves its whole {DEADLINE} s.\n"
        "Try: pass `deadline` itself to asyncio.timeout (or asyncio.wait_for).",
    )


async def test_the_slow_call_is_cancelled_not_left_running(timeline: Timeline) -> None:
    fetch, call = recommendations(timeline, SLOW)
    await fallback(timeline, fetch, call)
    expect_cancelled(timeline, ["fetch()"], call)


async def test_a_call_that_fails_is_not_a_timeout(timeline: Timeline) -> None:
    fetch = service(timeline, "fetch()", FAST, PICKS, error=DOWN)
    call = f"fetch_or_fallback(fetch, {DEADLINE}, {BESTSELLERS!r}) with a fetch() that fails"
    try:
        answer, _ = await fallback(timeline, fetch, call)
    except ConnectionError as error:
        if error is DOWN:
            return
        raise
    fail(
        f"{call} after {FAST} s with {DOWN!r} returned {answer!r}: the error was swallowed. "
        "The fallback is for a call that misses its deadline; a call that fails in time has "
        "an error the caller must see (the service may be down for good, or the request "
        "wrong).\nExpected: the ConnectionError raised to the caller.\n"
        "Try: catch only TimeoutError around `async with asyncio.timeout(deadline)`, not "
        "every Exception.\n\n" + timeline.draw()
    )


async def test_a_cancelled_fetch_or_fallback_leaves_no_call_running(timeline: Timeline) -> None:
    fetch, call = recommendations(timeline, SLOW)
    await cancel_midway(
        timeouts.fetch_or_fallback(fetch, scaled(DEADLINE), BESTSELLERS),
        after=0.05,
        what=call.split(" with ")[0],
        timeline=timeline,
    )


async def test_the_batch_keeps_the_fares_that_arrived_in_time(timeline: Timeline) -> None:
    fetches, call = airlines(timeline, AIRLINES)
    fares, took = await batch(timeline, fetches, call)
    if fares == IN_TIME:
        return
    lost = [name for name in IN_TIME if name not in fares]
    kept_late = [name for name in LATE if name in fares]
    if lost and timeline.peak == 1:
        mistake = (
            f"it lost {' and '.join(lost)}: the calls ran one after another, so by the time "
            f"{lost[0]} was asked, too little of the deadline was left.\n"
            "Try: start every call at once (tasks in a TaskGroup), then wait for them all under "
            "one deadline."
        )
    elif lost:
        mistake = (
            f"it lost {' and '.join(lost)}, which answered before the deadline.\n"
            "Likely mistake: one await for all of them (a gather) under the deadline: when time "
            "is up, that await fails as a whole and the answers already in go with it.\n"
            "Try: keep each answer the moment it arrives (store it in the dict from inside "
            "each task), or read the results of the tasks that are done."
        )
    elif kept_late:
        slowest = max(delay for delay, _ in AIRLINES.values())
        waited = (
            f" It returned after {took:.2f} s: it waited for the slowest call ({slowest} s), "
            "as if there were no deadline."
            if took >= EARLY * scaled(slowest)
            else ""
        )
        mistake = (
            f"it kept {' and '.join(kept_late)}, which answered only after the deadline."
            f"{waited}\nTry: stop waiting at the deadline and cancel what is still running."
        )
    else:
        mistake = "each key is an airline, each value the fare its fetch() returned."
    fail(
        f"{call} returned {fares!r}, expected {IN_TIME!r} (the fares that arrived within "
        f"{DEADLINE} s): {mistake}\n\n{timeline.draw()}"
    )


async def test_every_airline_is_asked_at_once(timeline: Timeline) -> None:
    fetches, call = airlines(timeline, AIRLINES)
    _, took = await batch(timeline, fetches, call)
    cut = [  # cancelled a whole deadline after their own start: a deadline each
        s
        for s in timeline.spans
        if s.cancelled and s.end is not None and s.end - s.start >= EARLY * scaled(DEADLINE)
    ]
    if timeline.peak == 1 and len(cut) > 1:
        fail(
            f"{call} asked the airlines one after another, never two at once, and cancelled "
            f"{' and '.join(s.label for s in cut)} each {DEADLINE} s after its own start: one "
            f"deadline per call, in turn, so the deadlines add up (it returned after "
            f"{took:.2f} s).\nExpected: every airline asked at once, under ONE deadline of "
            f"{DEADLINE} s for the whole batch.\nTry: start every call first (tasks in a "
            "TaskGroup) and put one `async with asyncio.timeout(deadline)` around waiting for "
            f"all of them.\n\n{timeline.draw()}"
        )
    timeline.expect_all_started_before_any_finished("fetch_batch_within's calls")
    asked = Counter(timeline.started)
    again = [f"{name} {asked[name]} times" for name in AIRLINES if asked[name] > 1]
    if again:
        fail(
            f"{call} asked {', '.join(again)}, expected each airline once.\n"
            "Try: one call of each fetch, all started at once.\n\n" + timeline.draw()
        )


async def test_the_batch_returns_at_the_deadline(timeline: Timeline) -> None:
    fetches, call = airlines(timeline, AIRLINES)
    _, took = await batch(timeline, fetches, call)
    if timeline.peak == 1:
        why = (
            "The calls ran one after another, each with a deadline of its own, so the waits add "
            "up.\nTry: start every call first (tasks in a TaskGroup) and put ONE deadline "
            "around waiting for all of them."
        )
    elif any(s.label in LATE and s.end is not None and not s.cancelled for s in timeline.spans):
        why = (
            f"It waited for the slowest call ({max(d for d, _ in AIRLINES.values())} s) instead "
            "of stopping at the deadline.\nTry: `async with asyncio.timeout(deadline)` around "
            "the TaskGroup, or asyncio.wait(tasks, timeout=deadline) and cancel what is pending."
        )
    else:
        why = (
            "It kept waiting after the deadline had passed.\nTry: put the one deadline around "
            "all the waiting: `async with asyncio.timeout(deadline)` around the TaskGroup."
        )
    expect_returned_in_about(
        timeline,
        took,
        DEADLINE,
        call,
        too_late=why,
        too_early=f"It returned before the deadline while {' and '.join(LATE)} could still "
        f"answer: the batch has {DEADLINE} s, not less.",
    )


async def test_the_late_calls_are_cancelled_when_the_batch_returns(timeline: Timeline) -> None:
    fetches, call = airlines(timeline, AIRLINES)
    await batch(timeline, fetches, call)
    expect_cancelled(timeline, LATE, call)


async def test_a_batch_with_a_failing_call_fails_and_stops_the_others(
    timeline: Timeline,
) -> None:
    fetches, call = airlines(timeline, AIRLINES)
    fetches["Bluejay"] = service(timeline, "Bluejay", AIRLINES["Bluejay"][0], "", error=DOWN)
    call += " where Bluejay fails after 0.15 s"
    raised: BaseException | None = None
    try:
        fares, _ = await batch(timeline, fetches, call)
    except Exception as error:
        raised = error
    if raised is None:
        fail(
            f"{call} returned {fares!r}: Bluejay's {DOWN!r} was swallowed.\n"
            "Expected: the error reaches the caller (inside an ExceptionGroup, as a TaskGroup "
            "raises it): a failing airline is a problem to see, not a late answer.\n"
            "Try: suppress only the TimeoutError of the deadline.\n\n" + timeline.draw()
        )
    if raised is not DOWN and not (
        isinstance(raised, BaseExceptionGroup) and raised.subgroup(lambda e: e is DOWN)
    ):
        raise raised
    ran_on = [s.label for s in timeline.spans if s.label in LATE and not s.cancelled]
    if ran_on:
        fail(
            f"{call} raised the error only once {' and '.join(ran_on)} had answered: it waited "
            "for fares nobody will get.\nExpected: when a call fails, the calls still running "
            "cancelled, and stopped, before the error reaches the caller.\n"
            "Try: run the calls in an asyncio.TaskGroup (inside the asyncio.timeout): when one "
            "fails, it cancels the others and waits for them before it raises.\n\n"
            + timeline.draw()
        )


async def test_a_cancelled_batch_leaves_no_call_running(timeline: Timeline) -> None:
    fetches, call = airlines(timeline, AIRLINES)
    await cancel_midway(
        timeouts.fetch_batch_within(fetches, scaled(DEADLINE)),
        after=0.05,
        what=call,
        timeline=timeline,
    )


async def test_an_empty_batch_returns_at_once_with_no_fares(timeline: Timeline) -> None:
    call = f"fetch_batch_within({{}}, {DEADLINE})"
    started = timeline.now()
    fares = await timeouts.fetch_batch_within({}, scaled(DEADLINE))
    took = timeline.now() - started
    if took > scaled(MARGIN):
        fail(
            f"{call} returned after {took:.2f} s.\nExpected: at once (within "
            f"{scaled(MARGIN):.2f} s): there is nothing to wait for.\n"
            + (
                f"It waited out the whole {DEADLINE} s deadline with no call to wait for: "
                "nothing but a sleep takes that long. Likely mistake: asyncio.sleep(deadline), "
                "then taking the calls that are done.\n"
                if took >= EARLY * scaled(DEADLINE)
                else ""
            )
            + "Try: wait for the calls themselves (none here) and let the deadline only cut "
            "that wait short: asyncio.timeout around the TaskGroup, or "
            "asyncio.wait(tasks, timeout=deadline) when there are tasks."
        )
    if fares != {}:
        fail(f"{call} returned {fares!r}, expected {{}}: no airlines, no fares.")


async def test_a_batch_that_answers_early_does_not_wait_for_the_deadline(
    timeline: Timeline,
) -> None:
    quick = {"Skylark": (FAST, "€89"), "Bluejay": (FAST, "€95")}
    fetches, call = airlines(timeline, quick)
    fares, took = await batch(timeline, fetches, call)
    expected = {name: fare for name, (_, fare) in quick.items()}
    if fares != expected:
        fail(
            f"{call} returned {fares!r}, expected {expected!r}: both fares arrive after {FAST} s, "
            f"well within the {DEADLINE} s deadline.\nTry: start both calls at once and keep "
            f"every answer that arrives in time.\n\n{timeline.draw()}"
        )
    waited_out = took >= EARLY * scaled(DEADLINE)
    expect_returned_in_about(
        timeline,
        took,
        FAST,
        call,
        too_late=(
            f"It waited out the whole {DEADLINE} s deadline although every fare had arrived "
            f"after {FAST} s. Likely mistake: asyncio.sleep(deadline), then taking the calls "
            "that are done.\n"
            if waited_out
            else "It kept waiting after every fare had arrived.\n"
        )
        + "Try: wait for the calls themselves and let the deadline only cut that wait short: "
        "asyncio.timeout around the TaskGroup, or asyncio.wait(tasks, timeout=deadline).",
        too_early="It returned before the fares could have arrived: wait for the calls.",
    )


# Stage 2: retry once. The n-th call of the fetch takes the n-th delay, drawn as "fetch() #n".
ATTEMPTS = 2
OWN_DEADLINES = (
    "a loop over the attempts, and inside it, for each attempt, a fresh "
    "`async with asyncio.timeout(deadline): return await fetch()` in a try whose "
    "`except TimeoutError:` goes on to the next attempt; the fallback after the loop."
)


def attempts_service(
    timeline: Timeline, delays: tuple[float, ...], failing: int = 0
) -> tuple[Fetch, str]:
    """A fetch whose successive calls take `delays` (the last one repeats); the call, as shown.

    Call number `failing` (from 1; 0: none) raises DOWN at the end of its delay.
    """
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        delay = delays[min(calls, len(delays)) - 1]
        error = DOWN if calls == failing else None
        return str(await timeline.work(f"fetch() #{calls}", delay, PICKS, error=error))

    shown = " then ".join(
        f"{delay} s{' (fails)' if n == failing else ''}" for n, delay in enumerate(delays, 1)
    )
    call = (
        f"fetch_or_fallback(fetch, {DEADLINE}, {BESTSELLERS!r}, attempts={ATTEMPTS}) with "
        f"calls that take {shown}"
    )
    return fetch, call


async def with_retries(timeline: Timeline, fetch: Fetch, call: str) -> tuple[str, float]:
    """Call fetch_or_fallback with attempts=2: its answer and how long it took."""
    raised: RuntimeError | None = None
    try:
        return await fallback(timeline, fetch, call, attempts=ATTEMPTS)
    except RuntimeError as error:
        if "reuse" not in str(error):
            raise
        raised = error
    # outside `except`, so the failure shows this explanation once
    fail(
        f"{call} raised {raised!r}: the second attempt awaited the coroutine of the first "
        "one again. A coroutine can be awaited only once, and this one had already been "
        "cancelled by the first deadline.\n"
        "Try: each attempt is a fresh call: `await fetch()` inside the loop, not a "
        "`call = fetch()` made once before it.\n\n" + timeline.draw()
    )


def calls_made(timeline: Timeline) -> list[str]:
    return [s.label for s in timeline.spans if s.label.startswith("fetch() #")]


@pytest.mark.stage(2)
async def test_a_retry_after_a_timeout_can_still_bring_the_answer(timeline: Timeline) -> None:
    fetch, call = attempts_service(timeline, (SLOW, FAST))
    answer, took = await with_retries(timeline, fetch, call)
    if answer != PICKS:
        if len(calls_made(timeline)) < ATTEMPTS and not reads(
            timeouts.fetch_or_fallback, "attempts"
        ):
            mistake = (
                "the first call missed its deadline and no second attempt was made: "
                "fetch_or_fallback never uses its `attempts` argument, so it makes one call, as "
                "in stage 1."
            )
        elif len(calls_made(timeline)) < ATTEMPTS:
            mistake = (
                "the first call missed its deadline and no second attempt was made, although "
                "fetch_or_fallback reads `attempts`: the first timeout ended the whole retrying. "
                "The deadline, or its TimeoutError, reached past the loop; each attempt needs "
                "an asyncio.timeout of its own, inside the loop."
            )
        else:
            mistake = (
                f"the second attempt answered after {FAST} s, within its own {DEADLINE} s "
                "deadline, so its answer is due."
            )
        fail(
            f"{call} returned {answer!r} after {len(calls_made(timeline))} call(s), expected "
            f"{PICKS!r}: {mistake}\nTry: {OWN_DEADLINES}\n\n{timeline.draw()}"
        )
    expect_returned_in_about(
        timeline,
        took,
        DEADLINE + FAST,
        call,
        too_late=f"Expected the first deadline ({DEADLINE} s), then the second call ({FAST} s). "
        "It kept waiting longer than that: does a timed-out call run on to its end?\n"
        f"Try: {OWN_DEADLINES}",
        too_early="It returned before the second call could have answered.",
    )


@pytest.mark.stage(2)
async def test_a_timed_out_attempt_is_cancelled_before_the_retry_starts(
    timeline: Timeline,
) -> None:
    fetch, call = attempts_service(timeline, (SLOW, FAST))
    await with_retries(timeline, fetch, call)
    first, second = timeline.find("fetch() #1"), timeline.find("fetch() #2")
    if first is None or second is None:
        fail(
            f"{call} made {len(calls_made(timeline))} call(s), expected {ATTEMPTS}: the first "
            f"call misses its deadline, so a second attempt is due.\nTry: {OWN_DEADLINES}\n\n"
            + timeline.draw()
        )
    if first.end is None or first.end > second.start:
        fail(
            f"{call}: fetch() #1 was still running when the retry started at "
            f"{second.start:.2f} s, so the service had two calls of yours at once. A retry "
            "replaces the attempt that timed out; it does not run beside it (that doubles "
            "the load on a service that is already too slow).\n"
            "Expected: fetch() #1 cancelled at its deadline and stopped, then fetch() #2.\n"
            f"Try: {OWN_DEADLINES} asyncio.timeout cancels the call and waits until it has "
            f"stopped.\n\n{timeline.draw()}"
        )
    expect_cancelled(timeline, ["fetch() #1"], call)


@pytest.mark.stage(2)
async def test_when_every_attempt_times_out_the_fallback_comes_after_two_deadlines(
    timeline: Timeline,
) -> None:
    fetch, call = attempts_service(timeline, (SLOW, SLOW))
    answer, took = await with_retries(timeline, fetch, call)
    made = calls_made(timeline)
    if answer != BESTSELLERS or len(made) != ATTEMPTS:
        got = (
            f"made {len(made)} call(s) before the fallback"
            if answer == BESTSELLERS
            else f"returned {answer!r} after {len(made)} call(s)"
        )
        fail(
            f"{call} {got}, expected {BESTSELLERS!r} after exactly {ATTEMPTS} calls: both "
            "calls miss their deadline, so both attempts are made and then the fallback is "
            f"due.\nTry: {OWN_DEADLINES}\n\n{timeline.draw()}"
        )
    expect_returned_in_about(
        timeline,
        took,
        ATTEMPTS * DEADLINE,
        call,
        too_late=f"Each attempt should end at its own {DEADLINE} s deadline: two deadlines, one "
        f"after the other. Does an attempt wait for its slow call ({SLOW} s)?\n"
        f"Try: {OWN_DEADLINES}",
        too_early=f"It gave up before both attempts had had their {DEADLINE} s each.",
    )
    expect_cancelled(timeline, made, call)


@pytest.mark.stage(2)
async def test_a_failed_attempt_is_raised_at_once_not_retried(timeline: Timeline) -> None:
    fetch, call = attempts_service(timeline, (FAST, FAST), failing=1)
    try:
        answer, _ = await with_retries(timeline, fetch, call)
    except ConnectionError as error:
        if error is not DOWN:
            raise
        if len(calls_made(timeline)) == 1:
            return
        ended = f"raised {error!r}"
    else:
        ended = f"returned {answer!r}"
    made = calls_made(timeline)
    first = timeline.span("fetch() #1")
    failed = f"fetch() #1 failed with {DOWN!r} at {timeline.drawn(first.end or 0.0):.2f} s"
    if len(made) > 1:
        mistake = (
            f"it retried after {failed}. Only a timeout earns another attempt: a call that "
            "fails has an error the caller must see (the service may be down for good, or the "
            "request wrong), and asking again only adds load to a service in trouble.\n"
            "Likely mistake: `except Exception:` (or a bare `except:`) in the loop, where only "
            "`except TimeoutError:` belongs."
        )
    else:
        mistake = f"{failed}, and its error was swallowed."
    fail(
        f"{call} {ended} after {len(made)} call(s): {mistake}\nExpected: the ConnectionError of "
        "fetch() #1 raised at once, as in stage 1, and no second call.\nTry: catch only "
        "TimeoutError around each attempt's `async with asyncio.timeout(deadline)`; let every "
        f"other error go on up.\n\n{timeline.draw()}"
    )


def reads(function: Callable[..., Any], name: str) -> bool:
    """Does the code of `function` (its inner functions included) ever read the variable `name`?"""

    def loads(code: CodeType) -> bool:
        for op in dis.get_instructions(code):
            local = op.opname.startswith("LOAD_FAST") or op.opname in ("LOAD_DEREF", "LOAD_CLOSURE")
            if local and name in (op.argval if isinstance(op.argval, tuple) else (op.argval,)):
                return True
        return any(loads(const) for const in code.co_consts if isinstance(const, CodeType))

    return loads(function.__code__)


def service(
    timeline: Timeline, label: str, delay: float, answer: str, error: Exception | None = None
) -> Fetch:
    """A fetch that answers `answer` after `delay` seconds, drawn on the timeline as `label`.

    With `error`, it raises that error after `delay` instead: a service that fails.
    """

    async def fetch() -> str:
        return str(await timeline.work(label, delay, answer, error=error))

    return fetch


def recommendations(timeline: Timeline, delay: float) -> tuple[Fetch, str]:
    """The recommendations service as a fetch, drawn as `fetch()`; and the call, as shown."""
    call = f"fetch_or_fallback(fetch, {DEADLINE}, {BESTSELLERS!r}) with a fetch() of {delay} s"
    return service(timeline, "fetch()", delay, PICKS), call


def airlines(
    timeline: Timeline, table: dict[str, tuple[float, str]]
) -> tuple[dict[str, Fetch], str]:
    """The airlines of `table` as fetches by name; and the call, as shown."""
    shown = ", ".join(f"{name} {delay} s" for name, (delay, _) in table.items())
    fetches = {name: service(timeline, name, delay, fare) for name, (delay, fare) in table.items()}
    return fetches, f"fetch_batch_within({{{shown}}}, {DEADLINE})"


def expect_returned_in_about(
    timeline: Timeline, took: float, ideal: float, call: str, too_late: str, too_early: str
) -> None:
    """The clock check of this kata: returned no sooner and no later than it should."""
    __tracebackhide__ = True
    low, high = EARLY * scaled(ideal), scaled(ideal) + scaled(MARGIN)
    if low <= took <= high:
        return
    fail(
        f"{call} returned after {took:.2f} s.\n"
        f"Expected: about {scaled(ideal):.2f} s (between {low:.2f} s and {high:.2f} s).\n"
        f"{too_late if took > high else too_early}\n\n{timeline.draw()}"
    )


def expect_cancelled(
    timeline: Timeline,
    labels: list[str],
    call: str,
    origins: dict[asyncio.Task[Any], str] | None = None,
) -> None:
    """Probe (no clock): the calls that missed the deadline were cancelled and have stopped.

    `origins` (from task_origins()) names the asyncio call that started each call's task.
    """
    __tracebackhide__ = True
    function = call.split("(", 1)[0]
    spans = [s for s in timeline.spans if s.label in labels]
    running = [s for s in spans if s.end is None]
    finished = [s for s in spans if s.end is not None and not s.cancelled]
    never = [label for label in labels if label not in {s.label for s in spans}]
    if never:
        problem = (
            f"{call} never called {' and '.join(never)}: every fetch is to be called (and "
            "cancelled if it misses the deadline).\n"
            "Try: start every fetch at once, then wait for them all under one deadline."
        )
    elif running:
        names, was = " and ".join(s.label for s in running), "were" if len(running) > 1 else "was"
        if all(s.task is not None and s.task.cancelling() for s in running):
            problem = (
                f"{names} had been asked to cancel, but {was} still running when {call} "
                "returned: task.cancel() only requests the cancellation, and the task stops "
                "later, at its next await.\n"
                "Likely mistake: cancel() without awaiting the cancelled tasks.\n"
                "Try: after cancelling, `await asyncio.wait(pending)` so they have stopped "
                "before you return (a TaskGroup under asyncio.timeout does this for you)."
            )
        else:
            kinds = {(origins or {}).get(s.task) for s in running if s.task is not None}
            many = len(running) > 1
            they, tasks = ("they", "tasks") if many else ("it", "a task")
            if kinds == {"asyncio.as_completed"}:
                seen = (
                    f"Seen: {they} ran in {tasks} started by asyncio.as_completed: when the "
                    "timeout ends the loop, the calls it has not yielded yet run on.\n"
                )
            elif kinds and kinds <= {"asyncio.create_task", "loop.create_task"}:
                seen = (
                    f"Seen: {they} ran in {tasks} made with asyncio.create_task, and nothing "
                    f"cancelled {'them' if many else 'it'} when {function} stopped waiting.\n"
                )
            else:
                seen = ""
            problem = (
                f"{names} {was} still running when {call} returned: giving up on waiting does "
                f"not stop a call, it goes on behind your back.\n{seen}"
                "Try: cancel what is still pending at the deadline and await it (task.cancel(), "
                "then `await asyncio.wait(pending)`). Simpler: await the call inside `async with "
                "asyncio.timeout(deadline)` (a batch: a TaskGroup inside it), which cancels and "
                "waits for you."
            )
    elif finished:
        names = " and ".join(s.label for s in finished)
        problem = (
            f"{names} ran to the end: never cancelled, so {call} waited for "
            f"{'them' if len(finished) > 1 else 'it'} instead of stopping at the deadline.\n"
            "Try: await inside `async with asyncio.timeout(deadline)`, which cancels what is "
            "still running when the deadline passes."
        )
    else:
        return
    fail(
        f"{problem}\nExpected: every call that misses the deadline cancelled at the deadline, "
        f"and stopped before {function} returns.\n\n{timeline.draw()}"
    )


async def fallback(
    timeline: Timeline, fetch: Fetch, call: str, **options: int
) -> tuple[str, float]:
    """fetch_or_fallback(fetch, 0.2, 'bestsellers'): its answer, and how long it took.

    Fails the test at once if a call it started was still running when it returned.
    """
    __tracebackhide__ = True
    with task_origins() as origins:
        started = timeline.now()
        answer = await timeouts.fetch_or_fallback(fetch, scaled(DEADLINE), BESTSELLERS, **options)
        took = timeline.now() - started
    expect_cancelled(timeline, [s.label for s in timeline.spans if s.end is None], call, origins)
    return answer, took


async def batch(
    timeline: Timeline, fetches: dict[str, Fetch], call: str
) -> tuple[dict[str, str], float]:
    """fetch_batch_within(fetches, 0.2): the fares it returned, and how long it took.

    Fails the test at once if a call it started was still running when it returned.
    """
    __tracebackhide__ = True
    with task_origins() as origins:
        started = timeline.now()
        fares = await timeouts.fetch_batch_within(fetches, scaled(DEADLINE))
        took = timeline.now() - started
    expect_cancelled(timeline, [s.label for s in timeline.spans if s.end is None], call, origins)
    return fares, took
