from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import single_flight
from harness import Timeline, fail, outcome, outcomes, raised, scaled

KEY = "user:42"
FETCH = 0.1  # seconds one fetch takes
WAIT = 0.5  # seconds the tests still wait for callers once their fetch is over
TIMEOUT, JOIN, SLOW = 0.3, 0.15, 0.6  # stage 2: the deadline, a late caller, a fetch too slow
SHIELD = (
    "Try: start the fetch in a task of its own (asyncio.create_task) and let every caller "
    "`await asyncio.shield(task)`: cancelling a caller then stops its waiting, nothing more."
)
FORGET = (
    "Try: remove the key from your dict when its fetch ends, however it ends: in a `finally:` "
    "around the fetch itself (not around a caller's wait)."
)

Fetch = Callable[[], Awaitable[str]]


async def test_five_callers_of_one_key_share_one_fetch(timeline: Timeline) -> None:
    flight = single_flight.SingleFlight()
    results = await asyncio.gather(*(flight.do(KEY, fetcher(timeline)) for _ in range(5)))
    made = fetches(timeline)
    if made != 1:
        mistake = (
            "they fetched one after another: each caller waited until the previous fetch had "
            "ended (a lock held while waiting?), found the key forgotten and fetched again"
            if made == 5 and timeline.peak == 1
            else "every caller fetched for itself: nothing told a caller that a fetch of its "
            "key was already in flight"
            if made == 5
            else "it never called fetch()"
            if made == 0
            else "some callers fetched for themselves although a fetch of their key was in flight"
        )
        fail(
            f"5 callers of flight.do({KEY!r}, fetch) at the same time made {made} fetches: "
            f"{mistake}.\nExpected: 1 fetch, its result returned to all 5.\n"
            "Try: keep the fetch in flight for each key (a dict: key -> task); a caller that "
            f"finds one awaits it instead of calling fetch().\n\n{timeline.draw()}"
        )
    if results != ["Ada"] * 5:
        fail(
            f"5 callers of flight.do({KEY!r}, fetch) shared one fetch returning 'Ada', and "
            f"returned {results}: every caller must get the fetch's result."
        )


async def test_different_keys_are_fetched_at_the_same_time(timeline: Timeline) -> None:
    flight = single_flight.SingleFlight()
    keys = ["user:1", "user:2", "user:3"]
    calls = [flight.do(key, fetcher(timeline, key, f"name of {key}")) for key in keys * 2]
    results = await asyncio.gather(*calls)
    made = {key: fetches(timeline, key) for key in keys}
    if set(made.values()) != {1}:
        fail(
            f"2 callers of each of the keys {keys}, all at once, made these fetches: {made}.\n"
            "Expected: 1 fetch per key, shared by its 2 callers.\n"
            "Try: one fetch in flight per KEY: callers of the same key share it, other keys "
            f"get their own.\n\n{timeline.draw()}"
        )
    if timeline.peak < len(keys):
        fail(
            f"The fetches of {len(keys)} different keys, asked for at once, ran at most "
            f"{timeline.peak} at a time: fetches of different keys waited for each other.\n"
            f"Expected: all {len(keys)} in flight together; only callers of the SAME key share "
            "(and wait for) a fetch.\n"
            "Likely mistake: one lock (or one queue, one worker) for every key, held while "
            "fetching.\nTry: no lock at all: looking up and storing the key's task happens "
            f"without an `await` in between, so no other task can slip in.\n\n{timeline.draw()}"
        )
    expected = [f"name of {key}" for key in keys * 2]
    if results != expected:
        fail(f"the 6 calls returned {results}; expected {expected}.")


async def test_a_failed_fetch_raises_its_error_in_every_caller(timeline: Timeline) -> None:
    flight = single_flight.SingleFlight()
    error = ConnectionError("the user service is down")
    tasks = callers(flight, fetcher(timeline, error=error), 5)
    listing, stuck = await settle_callers(tasks, within=scaled(FETCH + WAIT))
    reached = sum(raised(task, ConnectionError) for task in tasks)
    if reached == len(tasks):
        return
    if not timeline.spans:
        surface(tasks)  # what they raised instead (NotImplementedError...)
    waiting = (
        f"; {', '.join(stuck)} still waited {WAIT} s after the fetch had failed (nobody told them)"
        if stuck
        else ""
    )
    fail(
        f"5 callers of flight.do({KEY!r}, fetch) at once, whose fetch failed with {error!r}: "
        f"its error reached only {reached} of them{waiting}:\n{listing}\n"
        "Expected: every caller raises the fetch's ConnectionError.\n"
        "Likely mistake: only the caller that ran the fetch sees its error; the others wait "
        "for a result that never comes, or look for one that was never stored.\n"
        "Try: let every caller await the same task (through asyncio.shield): a task's error "
        f"is raised in everyone who awaits it.\n\n{timeline.draw()}"
    )


async def test_a_call_after_a_finished_fetch_fetches_again(timeline: Timeline) -> None:
    flight = single_flight.SingleFlight()
    first = await flight.do(KEY, fetcher(timeline, result="Ada"))
    second = await flight.do(KEY, fetcher(timeline, result="Ada Lovelace"))
    if fetches(timeline) == 1:
        fail(
            f"flight.do({KEY!r}, fetch) returned {first!r}; the next call, made after that "
            f"fetch had ended, returned {second!r} without fetching: the finished fetch was "
            "remembered, which turns single-flight into a cache that never expires (the "
            "user's new name never shows up).\n"
            "Expected: the key forgotten once its fetch has ended, so the next call fetches "
            "again and returns 'Ada Lovelace'. Only callers arriving WHILE a fetch runs share "
            f"it.\n{FORGET}\n\n{timeline.draw()}"
        )
    if (first, second) != ("Ada", "Ada Lovelace") or fetches(timeline) != 2:
        fail(
            f"Two calls of flight.do({KEY!r}, fetch), one after the other, returned {first!r} "
            f"and {second!r} with {fetches(timeline)} fetches; expected 'Ada' and then 'Ada "
            f"Lovelace', each from its own fetch.\n\n{timeline.draw()}"
        )


async def test_a_call_after_a_failed_fetch_fetches_again(timeline: Timeline) -> None:
    flight = single_flight.SingleFlight()
    error = ConnectionError("the user service is down")
    [first] = callers(flight, fetcher(timeline, error=error), 1)
    await asyncio.wait([first])
    surface([first], ConnectionError)
    if not raised(first, ConnectionError):
        fail(
            f"flight.do({KEY!r}, fetch) {outcome(first)} though its fetch failed with "
            f"{error!r}; expected that error raised.\n\n{timeline.draw()}"
        )
    [second] = callers(flight, fetcher(timeline, result="Ada"), 1, first=2)
    await asyncio.wait([second])
    surface([second], ConnectionError)
    if outcome(second) == "returned 'Ada'" and fetches(timeline) == 2:
        return
    remembered = fetches(timeline) == 1 and raised(second, ConnectionError)
    fail(
        f"flight.do({KEY!r}, fetch) failed with {error!r}; the next call, made after that "
        f"fetch had ended, {outcome(second)}"
        + (
            " without fetching: the failed fetch was remembered, and its error is now served "
            "to every later call, however healthy the service is again.\n"
            if remembered
            else f", {fetches(timeline)} fetches having been made in all.\n"
        )
        + "Expected: the key forgotten once its fetch has ended, so the next call fetches "
        f"again and returns 'Ada'.\n{FORGET}\n\n{timeline.draw()}"
    )


async def test_a_caller_cancelled_mid_fetch_does_not_cancel_the_others(timeline: Timeline) -> None:
    flight = single_flight.SingleFlight()
    held = HeldFetch(timeline)
    before = asyncio.all_tasks()
    tasks = callers(flight, held.fetch, 3)
    await held.until_started(tasks)
    tasks[0].cancel()  # caller 1, whose call started the fetch, gives up mid-fetch
    await asyncio.wait([tasks[0]], timeout=scaled(WAIT))
    held.released.set()  # now the fetch may finish
    listing, stuck = await settle_callers(tasks, within=scaled(WAIT))
    surface(tasks)
    fetch = timeline.span(f"fetch({KEY!r})")
    if fetch.cancelled:
        how = (
            "the fetch ran inside the first caller's task (caller 1 called fetch() itself), "
            "so cancelling caller 1 cancelled the fetch"
            if fetch.task is tasks[0]
            else "the fetch ran in a task of its own, but the callers awaited that task "
            "without a shield, and awaiting a task hands your cancellation on to it"
        )
        fail(
            f"3 callers of flight.do({KEY!r}, fetch) shared a fetch; caller 1 was cancelled "
            f"mid-fetch, and the fetch was cancelled with it: {how}.\n{listing}\n"
            "Expected: the fetch runs on, callers 2 and 3 get its result, and caller 1 alone "
            f"ends cancelled.\n{SHIELD}\n\n{timeline.draw()}"
        )
    if [outcome(task) for task in tasks[1:]] != ["returned 'Ada'"] * 2 or fetches(timeline) != 1:
        waiting = (
            f"{', '.join(stuck)} still waited {WAIT} s after the fetch had finished: nobody "
            "passed its result on to them once caller 1 had gone.\n"
            if stuck
            else ""
        )
        fail(
            f"3 callers of flight.do({KEY!r}, fetch) shared a fetch returning 'Ada'; caller 1 "
            f"was cancelled mid-fetch; {fetches(timeline)} fetches were made and:\n"
            f"{listing}\n{waiting}Expected: 1 fetch, and 'Ada' for callers 2 and 3.\n{SHIELD}"
            f"\n\n{timeline.draw()}"
        )
    if not tasks[0].cancelled():
        fail(
            f"caller 1 of flight.do({KEY!r}, fetch) was cancelled mid-fetch but then "
            f"{outcome(tasks[0])}: it caught the CancelledError and "
            "did not raise it again. Whoever cancelled it (a client that hung up, an "
            "asyncio.timeout) is told it completed.\n"
            "Expected: caller 1 ends cancelled; the fetch goes on for the others.\n"
            "Try: let the CancelledError from `await asyncio.shield(...)` go on to your caller."
        )
    expect_nothing_left(before)


async def test_a_fetch_whose_callers_all_gave_up_still_serves_the_next_caller(
    timeline: Timeline,
) -> None:
    flight = single_flight.SingleFlight()
    held = HeldFetch(timeline)
    before = asyncio.all_tasks()
    gave_up = callers(flight, held.fetch, 2)
    await held.until_started(gave_up)
    for task in gave_up:
        task.cancel()  # every caller gives up mid-fetch...
    await asyncio.wait(gave_up, timeout=scaled(WAIT))
    surface(gave_up)
    [late] = callers(flight, held.fetch, 1, first=3)  # ...then another caller arrives
    await asyncio.sleep(scaled(0.02))  # time to join: the fetch cannot end before its release
    held.released.set()
    listing, _ = await settle_callers([*gave_up, late], within=scaled(WAIT))
    surface([late])
    fetch = timeline.span(f"fetch({KEY!r})")
    if fetch.cancelled:
        fail(
            f"2 callers of flight.do({KEY!r}, fetch) both gave up (were cancelled) mid-fetch, "
            f"and the fetch was cancelled with them.\n{listing}\n"
            "Expected (this kata's contract): a fetch runs to its end even when every caller "
            "gave up, and caller 3, arriving meanwhile, joins it. Simple, and no work thrown "
            f"away.\n{SHIELD}\n\n{timeline.draw()}"
        )
    if fetches(timeline) != 1:
        fail(
            f"2 callers of flight.do({KEY!r}, fetch) gave up mid-fetch; caller 3, arriving "
            f"while that fetch was still running, made a fetch of its own ({fetches(timeline)} "
            "fetches in all): the key was forgotten when its callers gave up, though its fetch "
            "went on.\nExpected: caller 3 joins the running fetch; the key is forgotten when "
            f"the fetch ends, not when a caller stops waiting.\n{FORGET}\n\n{timeline.draw()}"
        )
    if outcome(late) != "returned 'Ada'" or not all(task.cancelled() for task in gave_up):
        fail(
            f"2 callers of flight.do({KEY!r}, fetch) were cancelled mid-fetch, then caller 3 "
            f"joined the fetch, which returned 'Ada':\n{listing}\n"
            "Expected: callers 1 and 2 ended cancelled, caller 3 returned 'Ada'."
        )
    expect_nothing_left(before)


@pytest.mark.stage(2)
async def test_a_slow_fetch_times_out_for_all_its_callers_at_one_deadline(
    timeline: Timeline,
) -> None:
    flight = single_flight.SingleFlight(timeout=scaled(TIMEOUT))
    slow = fetcher(timeline, delay=SLOW)
    what = (
        f"SingleFlight(timeout={TIMEOUT}).do({KEY!r}, fetch) by caller 1, joined {JOIN} s later "
        f"by caller 2 (a fetch needing {SLOW} s)"
    )
    with timeline.expect_duration(
        TIMEOUT,
        what=what,
        too_slow=(
            f"caller 2 timed out {TIMEOUT} s after it JOINED, not after the fetch started: "
            "a timeout per caller (asyncio.timeout or wait_for around each caller's wait). "
            "The deadline belongs to the fetch, shared by all its callers."
        ),
        advice="put the timeout inside the fetch's own task (async with asyncio.timeout(...): "
        "around `await fetch()`), not around each caller's wait.",
    ):
        [first] = callers(flight, slow, 1)
        await asyncio.sleep(scaled(JOIN))
        [second] = callers(flight, slow, 1, first=2)
        listing, stuck = await settle_callers([first, second], within=scaled(SLOW + WAIT))
        surface([first, second], TimeoutError)
        if not (raised(first, TimeoutError) and raised(second, TimeoutError)):
            fail(
                f"{what}:\n{listing}\n"
                f"Expected: both raise TimeoutError once the fetch has run {TIMEOUT} s.\n"
                + (
                    f"Likely mistake: nobody told {' and '.join(stuck)} that the fetch had "
                    "timed out.\n"
                    if stuck
                    else "Likely mistake: the fetch was cancelled when the time was up, so "
                    "its callers ended cancelled instead of TimeoutError: a cancelled task "
                    "means 'someone gave up on you', not 'too slow'.\n"
                    if first.cancelled() or second.cancelled()
                    else "Likely mistake: the timeout was never applied.\n"
                )
                + "Try: `async with asyncio.timeout(self.timeout):` around `await fetch()` in "
                "the fetch's task: it cancels the fetch and raises TimeoutError in its place, "
                f"for every caller.\n\n{timeline.draw()}"
            )
    fetch = timeline.span(f"fetch({KEY!r})")
    if not fetch.cancelled:
        fail(
            f"{what}: both callers got TimeoutError, but the fetch ran on after the deadline, "
            "for nobody: the timeout stopped the callers' waiting, not the fetch.\n"
            f"Expected: the fetch cancelled {TIMEOUT} s after it started.\n"
            "Try: `async with asyncio.timeout(self.timeout):` around `await fetch()`, inside "
            f"the fetch's own task.\n\n{timeline.draw()}"
        )


@pytest.mark.stage(2)
async def test_a_call_after_a_timed_out_fetch_fetches_again(timeline: Timeline) -> None:
    flight = single_flight.SingleFlight(timeout=scaled(TIMEOUT))
    call = f"SingleFlight(timeout={TIMEOUT}).do({KEY!r}, fetch)"
    [first] = callers(flight, fetcher(timeline, delay=SLOW), 1)
    await asyncio.wait([first])
    surface([first], TimeoutError)
    if not raised(first, TimeoutError):
        fail(
            f"{call} with a fetch needing {SLOW} s {outcome(first)}; expected TimeoutError "
            f"after {TIMEOUT} s.\n\n{timeline.draw()}"
        )
    second = await flight.do(KEY, fetcher(timeline, result="Ada Lovelace"))
    if second != "Ada Lovelace" or fetches(timeline) != 2:
        fail(
            f"{call} timed out; the next call, with a fetch of {FETCH} s, returned {second!r} "
            f"after {fetches(timeline)} fetches in all.\nExpected: a new fetch, returning "
            f"'Ada Lovelace': the timed-out fetch cancelled and its key forgotten.\n{FORGET}"
            f"\n\n{timeline.draw()}"
        )


def fetcher(
    timeline: Timeline,
    key: str = KEY,
    result: str = "Ada",
    *,
    delay: float = FETCH,
    error: Exception | None = None,
) -> Fetch:
    """What a caller hands to do(): a fake fetch of `key`, recorded on the timeline."""

    async def fetch() -> str:
        value: str = await timeline.work(f"fetch({key!r})", delay, result, error=error)
        return value

    return fetch


class HeldFetch:
    """A fetch of KEY that runs until the test releases it: "mid-fetch" is a state, not a time."""

    def __init__(self, timeline: Timeline) -> None:
        self.started = asyncio.Event()
        self.released = asyncio.Event()
        timeline.spy(self, "load", label=lambda: f"fetch({KEY!r})")

    async def load(self) -> str:
        self.started.set()
        await self.released.wait()
        return "Ada"

    def fetch(self) -> Awaitable[str]:
        return self.load()

    async def until_started(self, callers: list[asyncio.Task[str]]) -> None:
        """Wait until the fetch runs; fail if a caller ended before it did."""
        started = asyncio.create_task(self.started.wait())
        await asyncio.wait([started, *callers], return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            return
        started.cancel()
        surface(callers)
        ended = next(caller for caller in callers if caller.done())
        fail(
            f"{ended.get_name()} of flight.do({KEY!r}, fetch) {outcome(ended)} before any fetch "
            "had started: it did not call fetch(), or did not wait for it."
        )


def fetches(timeline: Timeline, key: str = KEY) -> int:
    """How many times a fetch of `key` was called."""
    return sum(span.label == f"fetch({key!r})" for span in timeline.spans)


def callers(
    flight: single_flight.SingleFlight[str], fetch: Fetch, count: int, first: int = 1
) -> list[asyncio.Task[str]]:
    """`count` callers of flight.do(KEY, fetch), each in its task, named "caller 1", ..."""
    return [
        asyncio.create_task(flight.do(KEY, fetch), name=f"caller {n}")
        for n in range(first, first + count)
    ]


def surface(tasks: list[asyncio.Task[str]], *expected: type[BaseException]) -> None:
    """Raise again what a caller raised that the test does not expect (NotImplementedError...)."""
    for task in tasks:
        if task.done() and not task.cancelled():
            error = task.exception()
            if error is not None and not isinstance(error, expected):
                raise error


async def settle_callers(tasks: list[asyncio.Task[str]], within: float) -> tuple[str, list[str]]:
    """Wait for the callers, `within` seconds at most; cancel those still waiting then.

    Returns how each caller ended, in words, and the names of those that were still waiting.
    """
    await asyncio.wait(tasks, timeout=within)
    listing = outcomes({task.get_name(): task for task in tasks})
    stuck = [task for task in tasks if not task.done()]
    for task in stuck:
        task.cancel()  # they would wait for ever
    if stuck:
        await asyncio.wait(stuck)
    return listing, [task.get_name() for task in stuck]


def expect_nothing_left(before: set[asyncio.Task[object]]) -> None:
    left = [task.get_name() for task in asyncio.all_tasks() - before]
    if left:
        fail(
            f"Every caller had ended and the fetch was over, yet tasks were still running: "
            f"{left}.\nExpected: nothing left running.\n"
            "Try: start one task per fetch and nothing else."
        )
