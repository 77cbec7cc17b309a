from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import ttl_cache
from harness import FakeClock, Timeline, fail, scaled

TTL = 60.0  # seconds of the fake clock a result stays fresh
CALL = 0.1  # seconds one call of the user service takes (real time, drawn on the timeline)
WAIT = 0.5  # seconds the error test waits for the callers once their call has failed
DOWN = "user service unavailable"  # what a failing call raises: ConnectionError(DOWN)
SLOW = 30.0  # seconds of the fake clock a slow call takes (the clock moves on during the call)

Lookup = Callable[..., Coroutine[Any, Any, str]]


REUSED = (
    "the cache hands out the coroutine object itself, and a coroutine can be awaited only "
    "once, by one caller.\nTry: wrap the call in a task (asyncio.create_task(func(...))) and "
    "cache the task: any number of callers can await a task, at any time, and all get its "
    "result."
)


async def test_a_second_call_within_the_ttl_comes_from_the_cache(timeline: Timeline) -> None:
    lookup, clock = cached_service(timeline)
    first = await ask(lookup, "ada")
    clock.now += TTL - 1
    second = await ask(lookup, "ada")
    call = f"lookup('ada'), then lookup('ada') again {TTL - 1:.0f} s later (ttl={TTL:.0f})"
    if first != "name of ada v1":
        fail(
            f"{call}: the first call returned {first!r}, expected 'name of ada v1' (what the "
            f"service answered). Calls that reached the service: {made(timeline)}.\n"
            "Try: return what `await func(*args, **kwargs)` returns."
        )
    if calls(timeline) > 1:
        fail(
            f"{call} made {calls(timeline)} calls to the service; expected 1: the second call "
            f"came within the ttl, so the answer of the first was to come from the cache.\n"
            "Try: keep each key's result in a dict (the key: the call's arguments), with the "
            "time it expires, clock() + ttl; a call whose key is still fresh returns it "
            "without calling the function."
        )
    if second != first:
        fail(f"{call}: the second call returned {second!r}, expected the cached {first!r}.")


async def test_after_the_ttl_the_function_is_called_again(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_time = RealTime(monkeypatch)
    lookup, clock = cached_service(timeline)
    await ask(lookup, "ada")
    clock.now += TTL + 1
    second = await ask(lookup, "ada")
    call = (
        f"lookup('ada'), then the fake clock moved on {TTL + 1:.0f} s, then lookup('ada') "
        f"(ttl={TTL:.0f})"
    )
    expected = "Expected: a second call to the service, returning 'name of ada v2'."
    if calls(timeline) == 1 and clock.reads == 0 and real_time.reads:
        fail(
            f"{call}: the second call was served from the cache, because your cache read the "
            f"real time itself ({real_time.reads} read(s) of time.monotonic() or time.time()) "
            "and never called the clock it was given (0 reads). The test cannot move the real "
            "time on; in real code, a cache that reads the time itself cannot be tested "
            f"without waiting out its ttl.\n{expected}\n"
            "Try: use the clock you were given: `clock()` when a result arrives (it expires at "
            "clock() + ttl), and `clock()` at each call to see whether it has expired."
        )
    if calls(timeline) == 1 and clock.reads == 0:
        fail(
            f"{call}: the second call came from the cache: the cached result never expired. "
            "Your cache never reads a clock at all (not the clock it was given, nor "
            "time.monotonic() or time.time()), so nothing in it can tell that the ttl has "
            f"passed.\n{expected}\n"
            "Try: when a result arrives, note when it expires, `clock() + ttl`; at each call, "
            "treat an entry as missing once `clock()` has reached that time."
        )
    if calls(timeline) == 1:
        fail(
            f"{call}: the second call came from the cache: the cached result never expired, "
            f"although clock() said {TTL + 1:.0f} s had passed, more than the ttl. The cache "
            f"read the clock {clock.reads} time(s) but kept serving the old result.\n"
            f"{expected}\n"
            "Try: note when each result expires (clock() + ttl) and treat an entry as missing "
            "once clock() >= that time."
        )
    if calls(timeline) != 2 or second != "name of ada v2":
        fail(
            f"{call} returned {second!r} after these calls to the service: {made(timeline)}. "
            "Expected: exactly one more call, and its fresh answer 'name of ada v2'."
        )


async def test_a_result_read_exactly_ttl_seconds_after_it_arrived_has_expired(
    timeline: Timeline,
) -> None:
    lookup, clock = cached_service(timeline)
    await ask(lookup, "ada")
    clock.now += TTL
    second = await ask(lookup, "ada")
    if calls(timeline) == 2 and second == "name of ada v2":
        return
    call = f"lookup('ada'), then lookup('ada') exactly {TTL:.0f} s later (ttl={TTL:.0f})"
    if calls(timeline) != 1:
        fail(
            f"{call}: the second call returned {second!r} after these calls to the service: "
            f"{made(timeline)}. Expected: one more call, returning 'name of ada v2'."
        )
    clock.now += 1
    third = await ask(lookup, "ada")
    if calls(timeline) == 2:
        fail(
            f"{call}: the second call came from the cache ({second!r}); one second later, a "
            f"third call did reach the service ({third!r}). So the result lived one moment too "
            "long: it was still served at exactly its expiry time, an off-by-one.\n"
            f"Expected: a result is fresh for less than ttl seconds: once {TTL:.0f} s of the "
            "clock have passed, it has expired, and the call at that very moment reaches the "
            "service.\n"
            "Try: treat an entry as expired when `clock() >= expires`, not `clock() > expires`."
        )
    fail(
        f"{call}: the second call came from the cache ({second!r}), and so did a third, one "
        f"second later: the result did not expire after its ttl. "
        "test_after_the_ttl_the_function_is_called_again says more."
    )


async def test_the_ttl_counts_from_when_the_result_arrived(timeline: Timeline) -> None:
    lookup, clock = cached_service(timeline, takes=SLOW)
    began = clock.now
    await ask(lookup, "ada")  # the call takes SLOW seconds of the clock
    arrived = clock.now
    served: list[str] = []  # how each later lookup was served
    for after_start in (TTL - 1, TTL + 1):  # both within the ttl of the result's arrival
        clock.now = began + after_start
        before = calls(timeline)
        await ask(lookup, "ada")
        how = "from the cache" if calls(timeline) == before else "by a new call"
        served.append(f"{clock.now - arrived:.0f} s after the result arrived: {how}")
    if calls(timeline) == 1:
        return
    call = (
        f"lookup('ada'), whose call took {SLOW:.0f} s of the clock (it started at "
        f"{began:.0f} and its result arrived at {arrived:.0f}), then lookup('ada') twice "
        f"(ttl={TTL:.0f})"
    )
    expected = (
        f"Expected: both from the cache: the result is fresh until {arrived + TTL:.0f}, "
        f"{TTL:.0f} s after it arrived."
    )
    if served[0].endswith("from the cache"):  # expired between TTL - 1 and TTL + 1 after start
        fail(
            f"{call}:\n  " + "\n  ".join(served) + "\n"
            f"The result expired {TTL:.0f} s after its call STARTED ({began + TTL:.0f}), "
            f"although it had arrived only {TTL + 1 - SLOW:.0f} s before: the ttl was counted "
            "from when the call started. The slower the service, the shorter its results "
            f"would live.\n{expected}\n"
            "Try: note the expiry time when the call's result is in (a done callback on the "
            "task, or after `await func(...)`): `clock() + ttl` then."
        )
    fail(
        f"{call}:\n  " + "\n  ".join(served) + f"\n{expected}\n"
        f"Calls that reached the service: {made(timeline)}."
    )


async def test_five_callers_of_a_missing_key_share_one_call(timeline: Timeline) -> None:
    lookup, _ = cached_service(timeline)
    results = await asyncio.gather(*(lookup("ada") for _ in range(5)), return_exceptions=True)
    call = "5 callers of lookup('ada') at the same time, on an empty cache"
    reused = [r for r in results if isinstance(r, RuntimeError) and "coroutine" in str(r)]
    if reused:
        fail(f"{call}: {len(reused)} of them raised {reused[0]!r}: {REUSED}")
    for result in results:
        if isinstance(result, BaseException):
            raise result
    if calls(timeline) != 1:
        fail(
            f"{call} made {calls(timeline)} calls to the service; expected 1. A cache "
            "stampede: every caller that found no result called the function itself, "
            "because the result is cached only once a call has finished. Under load that "
            "is a burst of identical calls on a service that is already slow.\n"
            "Try: cache the call while it is still running: put its task in the cache at "
            "once (asyncio.create_task), and let callers who find a running task await it.\n\n"
            + timeline.draw()
        )
    if results != ["name of ada v1"] * 5:
        fail(
            f"{call} shared one call answering 'name of ada v1', but they returned {results}: "
            "every caller must get the shared call's result."
        )


async def test_different_arguments_are_cached_apart_and_computed_at_the_same_time(
    timeline: Timeline,
) -> None:
    lookup, _ = cached_service(timeline)
    users = ("ada", "bob", "cy")
    expected = [f"name of {user} v1" for user in users]
    call = "lookup('ada'), lookup('bob'), lookup('cy') at the same time"
    results = await asyncio.gather(*(ask(lookup, user) for user in users))
    if results != expected:
        fail(
            f"{call} returned {results}, expected {expected}: each user is a key of its own, "
            f"with its own answer. Calls that reached the service: {made(timeline)}.\n"
            "Try: the key is the call's arguments: (args, frozenset(kwargs.items()))."
        )
    if timeline.peak < len(users):
        fail(
            f"{call}: at most {timeline.peak} call(s) to the service were running at once; "
            f"expected {len(users)}: different keys waited for each other. Likely mistake: "
            "one lock around the whole lookup-and-call, which makes every key wait for the "
            "call of any other key.\n"
            "Try: no lock around the call. Look up the key and, on a miss, put a new task in "
            "the cache, all before the first `await`: nothing can come in between, and only "
            f"callers of the SAME key then wait for the same task.\n\n{timeline.draw()}"
        )
    again = await asyncio.gather(*(ask(lookup, user) for user in users))
    made_calls = calls(timeline)
    if again != expected or made_calls != len(users):
        fail(
            f"{call}, then the same again: the second round returned {again} after these calls "
            f"to the service: {made(timeline)}. Expected {expected} from the cache, with no "
            "further call: each key keeps its own result."
        )


async def test_an_error_reaches_every_caller_waiting_for_the_failed_call(
    timeline: Timeline,
) -> None:
    lookup, _ = cached_service(timeline, failures=1)
    callers = [asyncio.create_task(lookup("bob"), name=f"caller {n}") for n in (1, 2, 3)]
    _, waiting = await asyncio.wait(callers, timeout=scaled(WAIT))
    for caller in waiting:
        caller.cancel()
    await asyncio.wait(callers)
    # What each caller ended with (reading every error, so none is reported as lost).
    outcomes = [None if c.cancelled() else c.exception() or c.result() for c in callers]
    call = "3 callers of lookup('bob') at the same time, where the service raises ConnectionError"
    if waiting:
        fail(
            f"{call}: {len(waiting)} of them were still waiting {WAIT} s later, although the "
            f"call had failed after {CALL} s: the error never reached them. Likely mistake: a "
            "Future that the first caller resolves only on success (set_result), so the "
            "others wait for a result that never comes.\n"
            "Try: cache a task (asyncio.create_task): when its call fails, every caller "
            "awaiting it gets the error. (With a Future: set_exception(error) on failure.)\n\n"
            + timeline.draw()
        )
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, ConnectionError):
            raise outcome
    if calls(timeline) > 1:
        mistake = (
            "the callers did not share one call: those who came while it was running called "
            "the service again. Cache the call's task at once, before its result is in, and "
            "let those callers await it."
        )
    else:
        mistake = "every caller waiting for the failed call is to get its ConnectionError."
    made_calls = calls(timeline)
    failed = all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    if made_calls != 1 or not failed:
        fail(
            f"{call}: they ended with {outcomes} after these calls to the service: "
            f"{made(timeline)}. Expected: one shared call, and its error raised to all 3 callers: "
            f"{mistake}\n\n{timeline.draw()}"
        )


async def test_an_error_is_not_cached_the_next_call_tries_again(timeline: Timeline) -> None:
    lookup, _ = cached_service(timeline, failures=1)
    call = "lookup('bob') once, where the service raises ConnectionError, then lookup('bob') again"
    try:
        first = await ask(lookup, "bob")
    except ConnectionError:
        pass
    else:
        fail(
            f"{call}: the first call returned {first!r}, although the service raised "
            f"ConnectionError({DOWN!r}): the caller must get the error."
        )
    raised: ConnectionError | None = None
    try:
        second = await ask(lookup, "bob")
    except ConnectionError as error:
        raised = error
    if raised is not None and calls(timeline) == 1:
        fail(
            f"{call}: the second call raised {raised!r} again without calling the service: "
            "the error was cached. A failure is often brief (a timeout, a restart); serving "
            f"it again for the whole ttl ({TTL:.0f} s) turns it into an outage.\n"
            "Expected: the second call calls the service again and returns 'name of bob v2'.\n"
            "Try: forget a call that fails: remove its entry from the cache when its task "
            "raises (a done callback on the task, or try/except around the call)."
        )
    made_calls = calls(timeline)
    if raised is not None or made_calls != 2 or second != "name of bob v2":
        fail(
            f"{call}: the second call {'raised ' + repr(raised) if raised else repr(second)} after "
            f"these calls to the service: {made(timeline)}. Expected: a new call, whose answer "
            "'name of bob v2' is returned."
        )


async def test_keyword_arguments_are_part_of_the_key(timeline: Timeline) -> None:
    lookup, _ = cached_service(timeline)
    call = "lookup('ada', fields='email') and lookup('ada', fields='name') at the same time"
    expected = ["email of ada v1", "name of ada v1"]
    unhashable: TypeError | None = None
    try:
        first = await asyncio.gather(
            ask(lookup, "ada", fields="email"), ask(lookup, "ada", fields="name")
        )
        again = await asyncio.gather(
            ask(lookup, "ada", fields="email"), ask(lookup, "ada", fields="name")
        )
    except TypeError as error:
        if "unhashable" not in str(error):
            raise
        unhashable = error
    if unhashable is not None:
        fail(
            f"{call} raised {unhashable!r}: a cache key must be hashable, and the dict of "
            "keyword arguments is not.\n"
            "Try: key = (args, frozenset(kwargs.items()))."
        )
    if first != expected:
        fail(
            f"{call} returned {first}, expected {expected}: the keyword arguments must be part "
            f"of the key, or two calls that differ only by them share one answer. Calls that "
            f"reached the service: {made(timeline)}.\n"
            "Try: key = (args, frozenset(kwargs.items())), and call func(*args, **kwargs)."
        )
    made_calls = calls(timeline)
    if again != expected or made_calls != 2:
        fail(
            f"{call}, then the same again: the second round returned {again} after these calls to "
            f"the service: {made(timeline)}. Expected {expected} from the cache, with no further "
            "call: the same keyword arguments make the same key."
        )


async def test_a_caller_that_gives_up_does_not_cancel_the_call_for_the_others(
    timeline: Timeline,
) -> None:
    held, clock = HeldService(timeline), FakeClock()
    lookup = cache(held.lookup, clock)
    callers = [asyncio.create_task(lookup("ada"), name=f"caller {n}") for n in (1, 2)]
    started = asyncio.create_task(held.started.wait())
    await asyncio.wait(
        [started, *callers], timeout=scaled(WAIT), return_when=asyncio.FIRST_COMPLETED
    )
    started.cancel()
    for caller in callers:
        if caller.done() and not caller.cancelled() and caller.exception() is not None:
            raise caller.exception()  # type: ignore[misc]  # NotImplementedError...
    callers[0].cancel()  # caller 1, whose call started the lookup, gives up mid-call
    await asyncio.wait([callers[0]], timeout=scaled(WAIT))
    held.released.set()
    await asyncio.wait(callers, timeout=scaled(WAIT))
    for caller in callers:
        if not caller.done():
            caller.cancel()
    await asyncio.wait(callers)
    outcomes = [
        "ended cancelled"
        if c.cancelled()
        else f"raised {c.exception()!r}"
        if c.exception()
        else f"returned {c.result()!r}"
        for c in callers
    ]
    listing = "\n".join(f"  caller {n} {o}" for n, o in enumerate(outcomes, 1))
    call = "2 callers of lookup('ada') at once; caller 1 is cancelled while the call runs"
    if timeline.span(label("ada")).cancelled:
        fail(
            f"{call}, and the shared call was cancelled with it:\n{listing}\n"
            "The callers await the cached task itself, and awaiting a task hands your "
            "cancellation on to it: one caller's timeout cancels the call for every other "
            "caller.\n"
            "Expected: the call goes on; caller 2 gets 'name of ada v1'; caller 1 alone ends "
            "cancelled.\n"
            "Try: `return await asyncio.shield(task)`: cancelling a caller then stops its "
            f"waiting, not the call.\n\n{timeline.draw()}"
        )
    if outcomes != ["ended cancelled", "returned 'name of ada v1'"]:
        fail(
            f"{call}:\n{listing}\n"
            "Expected: caller 1 ends cancelled (its CancelledError goes on), caller 2 gets "
            f"'name of ada v1' from the call that went on.\n\n{timeline.draw()}"
        )
    again = await ask(lookup, "ada")
    if again != "name of ada v1" or calls(timeline) != 1:
        fail(
            f"{call}; then lookup('ada') once more returned {again!r} after these calls to "
            f"the service: {made(timeline)}. Expected 'name of ada v1' from the cache: the call "
            "that went on is cached like any other."
        )


def test_the_decorator_keeps_the_function_name_and_docstring(timeline: Timeline) -> None:
    lookup = user_service(timeline)
    cached = ttl_cache.ttl_cache(ttl=TTL, clock=FakeClock())(lookup)
    name, doc = getattr(cached, "__name__", None), getattr(cached, "__doc__", None)
    if name != "lookup" or doc != lookup.__doc__:
        fail(
            f"@ttl_cache(ttl=60) on `async def lookup` gave a function named {name!r} with the "
            f"docstring {doc!r}; expected the name 'lookup' and lookup's docstring: tracebacks, "
            "logs and help() should still show the function the user wrote.\n"
            "Try: decorate your wrapper with @functools.wraps(func)."
        )


# Stage 2: the cache holds at most `maxsize` entries and evicts the least recently used.
MAXSIZE = 2


async def one_by_one(lookup: Lookup, timeline: Timeline, users: str) -> list[str]:
    """Look the users up one after another; how each was served: "ada: call", "ada: hit"."""
    served = []
    for user in users.split():
        before = calls(timeline)
        await ask(lookup, user)
        served.append(f"{user}: {'call' if calls(timeline) > before else 'hit'}")
    return served


def compared(served: list[str], expected: list[str]) -> str:
    """The lookups as served, and as expected, side by side."""
    rows = [
        f"  {got:<10} expected {want}" + ("" if got == want else "   <--")
        for got, want in zip(served, expected, strict=True)
    ]
    return "\n".join(rows)


@pytest.mark.stage(2)
async def test_with_maxsize_the_cache_holds_exactly_maxsize_entries(timeline: Timeline) -> None:
    lookup, _ = cached_service(timeline, maxsize=MAXSIZE)
    served = await one_by_one(lookup, timeline, "ada bob ada bob")
    expected = ["ada: call", "bob: call", "ada: hit", "bob: hit"]
    if served == expected:
        return
    call = f"with maxsize={MAXSIZE}: lookup() of ada, bob, then ada and bob again, one by one"
    mistake = (
        f"With {MAXSIZE} keys, the cache is full, not over full: it evicted an entry when it "
        f"reached maxsize, one entry too soon (`len(entries) >= maxsize` where `>` belongs).\n"
        "Try: evict only while the cache holds MORE than maxsize entries."
        if served[2] == "ada: call"
        else "Try: a hit returns the cached result without a call."
    )
    fail(f"{call}:\n{compared(served, expected)}\n{mistake}\n\n{timeline.draw()}")


@pytest.mark.stage(2)
async def test_with_maxsize_a_new_key_evicts_the_least_recently_used(
    timeline: Timeline,
) -> None:
    lookup, _ = cached_service(timeline, maxsize=MAXSIZE)
    served = await one_by_one(lookup, timeline, "ada bob cy ada cy")
    expected = ["ada: call", "bob: call", "cy: call", "ada: call", "cy: hit"]
    if served == expected:
        return
    call = f"with maxsize={MAXSIZE}: lookup() of ada, bob, cy, then ada, then cy, one by one"
    mistake = (
        f"ada came from the cache, so the cache held 3 entries with maxsize={MAXSIZE}: it "
        "ignores maxsize and grows without bound.\n"
        "Try: keep the entries in a collections.OrderedDict; after adding one, "
        "`while len(entries) > maxsize: entries.popitem(last=False)`."
        if served[3] == "ada: hit"
        else "When cy comes in, ada (the least recently used) is evicted and cy stays: evict "
        "one entry at a time, the least recently used, and only when the cache holds more "
        "than maxsize."
    )
    fail(f"{call}:\n{compared(served, expected)}\n{mistake}\n\n{timeline.draw()}")


@pytest.mark.stage(2)
async def test_with_maxsize_a_cache_hit_makes_an_entry_recently_used(
    timeline: Timeline,
) -> None:
    lookup, _ = cached_service(timeline, maxsize=MAXSIZE)
    served = await one_by_one(lookup, timeline, "ada bob ada cy ada bob")
    expected = ["ada: call", "bob: call", "ada: hit", "cy: call", "ada: hit", "bob: call"]
    if served == expected:
        return
    call = f"with maxsize={MAXSIZE}: lookup() of ada, bob, ada again, cy, ada, bob, one by one"
    mistake = (
        "ada was evicted when cy came in, although it had just been used. That is first in, "
        "first out: the oldest entry goes, however recently it was used. Least recently used "
        "evicts bob, untouched since it came in.\n"
        "Try: on every hit as well as on every miss, mark the key as the most recently used: "
        "entries.move_to_end(key)."
        if served[:4] == expected[:4] and served[4] == "ada: call"
        else "When cy comes in, bob (the least recently used) is evicted, and ada, used just "
        "before, stays."
    )
    fail(f"{call}:\n{compared(served, expected)}\n{mistake}\n\n{timeline.draw()}")


@pytest.mark.stage(2)
async def test_with_maxsize_an_entry_evicted_while_its_call_runs_still_answers_its_callers(
    timeline: Timeline,
) -> None:
    lookup, _ = cached_service(timeline, maxsize=1)
    ada = asyncio.create_task(lookup("ada"))  # a miss: its call starts...
    bob = asyncio.create_task(lookup("bob"))  # ...and bob's miss evicts ada while it runs
    await asyncio.wait([ada, bob])
    for task in (ada, bob):
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]  # NotImplementedError...
    call = "with maxsize=1: lookup('ada') and lookup('bob') at once (bob evicts ada mid-call)"
    if ada.cancelled():
        fail(
            f"{call}: the caller of lookup('ada') ended cancelled: the eviction cancelled the "
            "call still running for it.\n"
            "Expected: eviction only forgets the entry; whoever waits for its call still gets "
            "'name of ada v1'.\n"
            f"Try: when you evict, drop the entry and leave its task alone.\n\n{timeline.draw()}"
        )
    again = await ask(lookup, "ada")
    if ada.result() == "name of ada v1" and again == "name of ada v2":
        return
    fail(
        f"{call}: its caller got {ada.result()!r}; then lookup('ada') once more returned "
        f"{again!r} after these calls: {made(timeline)}.\n"
        + (
            "The evicted entry was put back in the cache when its call finished: the cache "
            "then holds more than maxsize entries.\n"
            "Try: when a call finishes, set its expiry only if its entry is still the one in "
            "the cache (`entries.get(key)` holds this very task).\n"
            if again == "name of ada v1"
            else ""
        )
        + "Expected: 'name of ada v1' for the caller, and then a new call, 'name of ada v2': "
        f"the evicted entry stays forgotten.\n\n{timeline.draw()}"
    )


def user_service(
    timeline: Timeline, failures: int = 0, clock: FakeClock | None = None, takes: float = 0.0
) -> Lookup:
    """The slow function to cache: each call takes 0.1 s on the timeline (and `takes` seconds
    of the fake clock, moved on during the call); the first `failures` calls raise
    ConnectionError(DOWN). Answers are numbered per key ('name of ada v1', then v2), so that
    a cached answer and a fresh one look different."""
    made: dict[tuple[str, str], int] = {}

    async def lookup(user: str, *, fields: str = "name") -> str:
        """Fetch a user's profile from the user service (slow)."""
        made[user, fields] = made.get((user, fields), 0) + 1
        failing = sum(made.values()) <= failures
        answer = f"{fields} of {user} v{made[user, fields]}"
        value = await timeline.work(
            label(user, fields), CALL, answer, error=ConnectionError(DOWN) if failing else None
        )
        if clock is not None:
            clock.now += takes
        return str(value)

    return lookup


class HeldService:
    """A user service whose calls run until the test releases them: "mid-call" is a state."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.started = asyncio.Event()
        self.released = asyncio.Event()

    async def lookup(self, user: str, *, fields: str = "name") -> str:
        """Fetch a user's profile from the user service (slow)."""
        with self.timeline.record(label(user, fields)):
            self.started.set()
            await self.released.wait()
        return f"{fields} of {user} v{calls(self.timeline, user)}"


class RealTime:
    """Counts the reads of the real time (time.monotonic(), time.time(), ...) by ttl_cache.py:
    the module's `time`, and any of its functions imported by name, are replaced by counters."""

    NAMES = ("monotonic", "time", "perf_counter", "monotonic_ns", "time_ns", "perf_counter_ns")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        real = {getattr(time, name): name for name in self.NAMES}
        for name, value in list(vars(ttl_cache).items()):
            if value is time:
                monkeypatch.setattr(ttl_cache, name, self)
            elif any(value is f for f in real):
                monkeypatch.setattr(ttl_cache, name, self._counted(value))

    def _counted(self, read: Callable[[], Any]) -> Callable[[], Any]:
        def counted() -> Any:
            self.reads += 1
            return read()

        return counted

    def __getattr__(self, name: str) -> Any:
        value = getattr(time, name)
        return self._counted(value) if name in self.NAMES else value


def label(user: str, fields: str = "name") -> str:
    return f"lookup({user!r}" + (f", fields={fields!r}" if fields != "name" else "") + ")"


def cached_service(
    timeline: Timeline, *, failures: int = 0, maxsize: int | None = None, takes: float = 0.0
) -> tuple[Lookup, FakeClock]:
    """The user service decorated with @ttl_cache(ttl=60, clock=a fake clock); and the clock."""
    clock = FakeClock()
    return cache(user_service(timeline, failures, clock, takes), clock, maxsize), clock


def cache(lookup: Lookup, clock: FakeClock, maxsize: int | None = None) -> Lookup:
    """`lookup` decorated with @ttl_cache(ttl=60, clock=clock), with `maxsize` if given."""
    if maxsize is None:
        return ttl_cache.ttl_cache(ttl=TTL, clock=clock)(lookup)
    return ttl_cache.ttl_cache(ttl=TTL, clock=clock, maxsize=maxsize)(lookup)


def calls(timeline: Timeline, user: str | None = None) -> int:
    """How many calls reached the service (of one user's lookup, or of any)."""
    return sum(user is None or span.label == label(user) for span in timeline.spans)


def made(timeline: Timeline) -> str:
    return ", ".join(timeline.started) or "none"


async def ask(lookup: Lookup, user: str, **kwargs: str) -> str:
    """Call the cached lookup; explain the error of a coroutine awaited twice."""
    try:
        return await lookup(user, **kwargs)
    except RuntimeError as error:
        if "coroutine" not in str(error):
            raise
        reused = error
    shown = ", ".join([repr(user)] + [f"{k}={v!r}" for k, v in kwargs.items()])
    fail(f"lookup({shown}) raised {reused!r}: {REUSED}")
