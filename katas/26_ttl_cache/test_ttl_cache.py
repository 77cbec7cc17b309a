import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import ttl_cache
from harness import Timeline, scaled

TTL = 60.0  # seconds of the fake clock a result stays fresh
CALL = 0.1  # seconds one call of the user service takes (real time, drawn on the timeline)
WAIT = 0.5  # seconds the error test waits for the callers once their call has failed
DOWN = "user service unavailable"  # what a failing call raises: ConnectionError(DOWN)

Lookup = Callable[..., Coroutine[Any, Any, str]]


class FakeClock:
    """The time as the test sets it: the test moves it on (`clock.now += 61`) instead of
    sleeping, and counts how often the cache asked it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def user_service(timeline: Timeline, failures: int = 0) -> Lookup:
    """The slow function to cache: each call takes 0.1 s on the timeline; the first
    `failures` calls raise ConnectionError(DOWN). Answers are numbered per key ('name of ada
    v1', then v2), so that a cached answer and a fresh one look different."""
    made: dict[tuple[str, str], int] = {}

    async def lookup(user: str, *, fields: str = "name") -> str:
        """Fetch a user's profile from the user service (slow)."""
        made[user, fields] = made.get((user, fields), 0) + 1
        failing = sum(made.values()) <= failures
        answer = f"{fields} of {user} v{made[user, fields]}"
        value = await timeline.work(
            label(user, fields), CALL, answer, error=ConnectionError(DOWN) if failing else None
        )
        return str(value)

    return lookup


def label(user: str, fields: str = "name") -> str:
    return f"lookup({user!r}" + (f", fields={fields!r}" if fields != "name" else "") + ")"


def cached_service(
    timeline: Timeline, *, failures: int = 0, maxsize: int | None = None
) -> tuple[Lookup, FakeClock]:
    """The user service decorated with @ttl_cache(ttl=60, clock=a fake clock); and the clock."""
    clock = FakeClock()
    if maxsize is None:
        decorate = ttl_cache.ttl_cache(ttl=TTL, clock=clock)
    else:
        decorate = ttl_cache.ttl_cache(ttl=TTL, clock=clock, maxsize=maxsize)
    return decorate(user_service(timeline, failures)), clock


def calls(timeline: Timeline, user: str | None = None) -> int:
    """How many calls reached the service (of one user's lookup, or of any)."""
    return sum(user is None or span.label == label(user) for span in timeline.spans)


def made(timeline: Timeline) -> str:
    return ", ".join(timeline.started) or "none"


REUSED = (
    "the cache hands out the coroutine object itself, and a coroutine can be awaited only "
    "once, by one caller.\nTry: wrap the call in a task (asyncio.create_task(func(...))) and "
    "cache the task: any number of callers can await a task, at any time, and all get its "
    "result."
)


async def ask(lookup: Lookup, user: str, **kwargs: str) -> str:
    """Call the cached lookup; explain the error of a coroutine awaited twice."""
    try:
        return await lookup(user, **kwargs)
    except RuntimeError as error:
        if "coroutine" not in str(error):
            raise
        reused = error
    shown = ", ".join([repr(user)] + [f"{k}={v!r}" for k, v in kwargs.items()])
    pytest.fail(f"lookup({shown}) raised {reused!r}: {REUSED}", pytrace=False)


async def test_a_second_call_within_the_ttl_comes_from_the_cache(timeline: Timeline) -> None:
    lookup, clock = cached_service(timeline)
    first = await ask(lookup, "ada")
    clock.now += TTL - 1
    second = await ask(lookup, "ada")
    call = f"lookup('ada'), then lookup('ada') again {TTL - 1:.0f} s later (ttl={TTL:.0f})"
    if first != "name of ada v1":
        pytest.fail(
            f"{call}: the first call returned {first!r}, expected 'name of ada v1' (what the "
            f"service answered). Calls that reached the service: {made(timeline)}.\n"
            "Try: return what `await func(*args, **kwargs)` returns.",
            pytrace=False,
        )
    if calls(timeline) > 1:
        pytest.fail(
            f"{call} made {calls(timeline)} calls to the service; expected 1: the second call "
            f"came within the ttl, so the answer of the first was to come from the cache.\n"
            "Try: keep each key's result in a dict (the key: the call's arguments), with the "
            "time it expires, clock() + ttl; a call whose key is still fresh returns it "
            "without calling the function.",
            pytrace=False,
        )
    assert second == first, (
        f"{call}: the second call returned {second!r}, expected the cached {first!r}."
    )


async def test_after_the_ttl_the_function_is_called_again(timeline: Timeline) -> None:
    lookup, clock = cached_service(timeline)
    await ask(lookup, "ada")
    clock.now += TTL + 1
    second = await ask(lookup, "ada")
    call = (
        f"lookup('ada'), then the fake clock moved on {TTL + 1:.0f} s, then lookup('ada') "
        f"(ttl={TTL:.0f})"
    )
    if calls(timeline) == 1 and clock.reads == 0:
        pytest.fail(
            f"{call}: the second call came from the cache: the cached result never expired. "
            f"And your cache never called the clock it was given (0 reads): either it ignores "
            "the ttl, or it reads the time itself (time.monotonic(), time.time()), which the "
            "test cannot move on.\n"
            "Expected: a second call to the service, returning 'name of ada v2'.\n"
            "Try: use the clock you were given: `clock()` when a result arrives (it expires at "
            "clock() + ttl), and `clock()` at each call to see whether it has expired.",
            pytrace=False,
        )
    if calls(timeline) == 1:
        pytest.fail(
            f"{call}: the second call came from the cache: the cached result never expired, "
            f"although clock() said {TTL + 1:.0f} s had passed, more than the ttl. The cache "
            f"read the clock {clock.reads} time(s) but kept serving the old result.\n"
            "Expected: a second call to the service, returning 'name of ada v2'.\n"
            "Try: note when each result expires (clock() + ttl) and treat an entry as missing "
            "once clock() >= that time.",
            pytrace=False,
        )
    made_calls = calls(timeline)
    assert made_calls == 2 and second == "name of ada v2", (
        f"{call} returned {second!r} after these calls to the service: {made(timeline)}. "
        "Expected: exactly one more call, and its fresh answer 'name of ada v2'."
    )


async def test_five_callers_of_a_missing_key_share_one_call(timeline: Timeline) -> None:
    lookup, _ = cached_service(timeline)
    results = await asyncio.gather(*(lookup("ada") for _ in range(5)), return_exceptions=True)
    call = "5 callers of lookup('ada') at the same time, on an empty cache"
    reused = [r for r in results if isinstance(r, RuntimeError) and "coroutine" in str(r)]
    if reused:
        pytest.fail(
            f"{call}: {len(reused)} of them raised {reused[0]!r}: {REUSED}",
            pytrace=False,
        )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    if calls(timeline) != 1:
        pytest.fail(
            f"{call} made {calls(timeline)} calls to the service; expected 1. A cache "
            "stampede: every caller that found no result called the function itself, "
            "because the result is cached only once a call has finished. Under load that "
            "is a burst of identical calls on a service that is already slow.\n"
            "Try: cache the call while it is still running: put its task in the cache at "
            "once (asyncio.create_task), and let callers who find a running task await it.\n\n"
            + timeline.draw(),
            pytrace=False,
        )
    assert results == ["name of ada v1"] * 5, (
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
        pytest.fail(
            f"{call} returned {results}, expected {expected}: each user is a key of its own, "
            f"with its own answer. Calls that reached the service: {made(timeline)}.\n"
            "Try: the key is the call's arguments: (args, frozenset(kwargs.items())).",
            pytrace=False,
        )
    if timeline.peak < len(users):
        pytest.fail(
            f"{call}: at most {timeline.peak} call(s) to the service were running at once; "
            f"expected {len(users)}: different keys waited for each other. Likely mistake: "
            "one lock around the whole lookup-and-call, which makes every key wait for the "
            "call of any other key.\n"
            "Try: no lock around the call. Look up the key and, on a miss, put a new task in "
            "the cache, all before the first `await`: nothing can come in between, and only "
            f"callers of the SAME key then wait for the same task.\n\n{timeline.draw()}",
            pytrace=False,
        )
    again = await asyncio.gather(*(ask(lookup, user) for user in users))
    made_calls = calls(timeline)
    assert again == expected and made_calls == len(users), (
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
        pytest.fail(
            f"{call}: {len(waiting)} of them were still waiting {WAIT} s later, although the "
            f"call had failed after {CALL} s: the error never reached them. Likely mistake: a "
            "Future that the first caller resolves only on success (set_result), so the "
            "others wait for a result that never comes.\n"
            "Try: cache a task (asyncio.create_task): when its call fails, every caller "
            "awaiting it gets the error. (With a Future: set_exception(error) on failure.)\n\n"
            + timeline.draw(),
            pytrace=False,
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
    assert made_calls == 1 and failed, (
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
        pytest.fail(
            f"{call}: the first call returned {first!r}, although the service raised "
            f"ConnectionError({DOWN!r}): the caller must get the error.",
            pytrace=False,
        )
    raised: ConnectionError | None = None
    try:
        second = await ask(lookup, "bob")
    except ConnectionError as error:
        raised = error
    if raised is not None and calls(timeline) == 1:
        pytest.fail(
            f"{call}: the second call raised {raised!r} again without calling the service: "
            "the error was cached. A failure is often brief (a timeout, a restart); serving "
            f"it again for the whole ttl ({TTL:.0f} s) turns it into an outage.\n"
            "Expected: the second call calls the service again and returns 'name of bob v2'.\n"
            "Try: forget a call that fails: remove its entry from the cache when its task "
            "raises (a done callback on the task, or try/except around the call).",
            pytrace=False,
        )
    made_calls = calls(timeline)
    assert raised is None and made_calls == 2 and second == "name of bob v2", (
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
        pytest.fail(
            f"{call} raised {unhashable!r}: a cache key must be hashable, and the dict of "
            "keyword arguments is not.\n"
            "Try: key = (args, frozenset(kwargs.items())).",
            pytrace=False,
        )
    if first != expected:
        pytest.fail(
            f"{call} returned {first}, expected {expected}: the keyword arguments must be part "
            f"of the key, or two calls that differ only by them share one answer. Calls that "
            f"reached the service: {made(timeline)}.\n"
            "Try: key = (args, frozenset(kwargs.items())), and call func(*args, **kwargs).",
            pytrace=False,
        )
    made_calls = calls(timeline)
    assert again == expected and made_calls == 2, (
        f"{call}, then the same again: the second round returned {again} after these calls to "
        f"the service: {made(timeline)}. Expected {expected} from the cache, with no further "
        "call: the same keyword arguments make the same key."
    )


def test_the_decorator_keeps_the_function_name_and_docstring(timeline: Timeline) -> None:
    lookup = user_service(timeline)
    cached = ttl_cache.ttl_cache(ttl=TTL, clock=FakeClock())(lookup)
    name, doc = getattr(cached, "__name__", None), getattr(cached, "__doc__", None)
    assert name == "lookup" and doc == lookup.__doc__, (
        f"@ttl_cache(ttl=60) on `async def lookup` gave a function named {name!r} with the "
        f"docstring {doc!r}; expected the name 'lookup' and lookup's docstring: tracebacks, "
        "logs and help() should still show the function the user wrote.\n"
        "Try: decorate your wrapper with @functools.wraps(func)."
    )


# Stage 2: the cache holds at most `maxsize` entries and evicts the least recently used.
MAXSIZE = 2


async def one_by_one(lookup: Lookup, users: str) -> None:
    for user in users.split():
        await ask(lookup, user)


@pytest.mark.stage(2)
async def test_with_maxsize_a_new_key_evicts_the_least_recently_used(
    timeline: Timeline,
) -> None:
    lookup, _ = cached_service(timeline, maxsize=MAXSIZE)
    await one_by_one(lookup, "ada bob cy ada cy")
    call = f"with maxsize={MAXSIZE}: lookup() of ada, bob, cy, then ada, then cy, one by one"
    if calls(timeline, "ada") == 1:
        pytest.fail(
            f"{call}: ada came from the cache, so the cache held 3 entries with maxsize="
            f"{MAXSIZE}: it ignores maxsize and grows without bound. Calls that reached the "
            f"service: {made(timeline)}.\n"
            "Expected: when cy comes in, ada (the least recently used) is evicted, so the "
            "second lookup of ada calls the service again.\n"
            "Try: keep the entries in a collections.OrderedDict; after adding one, "
            "`while len(entries) > maxsize: entries.popitem(last=False)`.",
            pytrace=False,
        )
    made_calls = calls(timeline)
    assert made_calls == 4, (
        f"{call}: the calls that reached the service were {made(timeline)}. Expected ada, "
        "bob, cy, ada: then cy (added after bob) was still cached; bob, the least recently "
        "used, made room for ada. Evict one entry, the least recently used, at a time."
    )


@pytest.mark.stage(2)
async def test_with_maxsize_a_cache_hit_makes_an_entry_recently_used(
    timeline: Timeline,
) -> None:
    lookup, _ = cached_service(timeline, maxsize=MAXSIZE)
    await one_by_one(lookup, "ada bob ada cy ada bob")
    call = f"with maxsize={MAXSIZE}: lookup() of ada, bob, ada again, cy, ada, bob, one by one"
    if calls(timeline, "ada") > 1:
        pytest.fail(
            f"{call}: ada was evicted when cy came in, although it had just been used (your "
            f"cache served the second lookup of ada). Calls that reached the service: "
            f"{made(timeline)}.\nThat is first in, first out: the oldest entry goes, however "
            "recently it was used. Least recently used evicts bob, untouched since it came "
            "in.\nTry: on every hit as well as on every miss, mark the key as the most "
            "recently used: entries.move_to_end(key).",
            pytrace=False,
        )
    made_calls, bobs = calls(timeline), calls(timeline, "bob")
    assert made_calls == 4 and bobs == 2, (
        f"{call}: the calls that reached the service were {made(timeline)}. Expected ada, bob, "
        "cy, bob: when cy comes in, bob (the least recently used) is evicted, and ada stays."
    )
