from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import types
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import rate_limit
from aiohttp import web
from harness import MARGIN, Timeline, fail, scaled, swap_in, wall_clock
from servers import HttpServer

StartServer = Callable[[list[web.RouteDef]], HttpServer]

RATE = 3  # requests allowed in any window...
PER = 0.3  # ...of this many seconds
RESPONSE = 0.1  # how long the server takes to answer a request, unless ?delay= says otherwise
# Longer than per / rate: requests spaced evenly overlap, requests one after another do not.
SLOWER = 0.15
# Two windows: a response this slow comes back after the next requests were due.
SLOWEST = 2 * PER


# ---------------------------------------------------------------- the server and its referee


SAME_MOMENT = 0.001  # seconds: two deadlines this close are the same moment


async def test_the_bodies_come_back_in_the_order_of_the_urls(
    http_server: StartServer, timeline: Timeline
) -> None:
    server = api(http_server)
    slow_first = [f"{server.url}/items/0?delay=0.3", *urls(server, 2, start=1)]
    async with warm_session(server) as session:
        bodies = await rate_limit.fetch_all_rate_limited(session, slow_first, RATE, scaled(PER))
    expected = ["item 0", "item 1", "item 2"]
    if bodies != expected:
        fail(
            f"{limiter_call(3)} returned {bodies!r}, expected {expected!r}: the bodies must "
            "follow the "
            "order of the urls, not the order the responses came back in (item 0 is the "
            "slowest, so it comes back last).\n"
            "Likely mistake: appending each body to a list as its response arrives.\n"
            "Try: keep one task per url in a list, in url order, and read the bodies from those "
            "tasks (asyncio.gather keeps the order of its arguments too).\n\n" + timeline.draw()
        )


async def test_the_server_never_sees_more_than_rate_requests_in_any_window(
    http_server: StartServer, timeline: Timeline, watch: Watch
) -> None:
    server = api(http_server)
    async with warm_session(server) as session:
        await rate_limit.fetch_all_rate_limited(session, urls(server, 9), RATE, scaled(PER))
    crowded = crowded_window(server)
    if crowded is None:
        return
    count, first, last = crowded
    fail(
        f"{limiter_call(9)}: the server saw {count} requests start between {first:.2f} s and "
        f"{last:.2f} s, within {last - first:.2f} s; {limit_rule()}.\n"
        f"{why_crowded(watch, timeline, 9, scaled(PER))}\n\n{timeline.draw()}"
    )


async def test_each_request_starts_as_soon_as_the_window_allows(
    http_server: StartServer, timeline: Timeline
) -> None:
    server = api(http_server)
    async with warm_session(server) as session:
        slower = [f"{url}?delay={SLOWER}" for url in urls(server, 9)]
        await rate_limit.fetch_all_rate_limited(session, slower, RATE, scaled(PER))
    late, delay = latest_start(server)
    if delay <= scaled(MARGIN):
        by_start = sorted(server.requests, key=lambda r: r.start)
        went = [
            sorted(int(r.path.split("?")[0].rsplit("/", 1)[-1]) for r in by_start[n : n + RATE])
            for n in (0, 3, 6)
        ]
        if went == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]:
            return
        fail(
            f"{limiter_call(9)}: the requests went in the groups {went}; expected [[0, 1, 2], "
            "[3, 4, 5], [6, 7, 8]]: the tasks asked the limiter in the order of the urls, and "
            "callers go in the order they arrived (first come, first served).\n"
            "Try: let one caller at a time look at the window and wait: an asyncio.Lock "
            "queues the others in the order they came.\n\n" + timeline.draw()
        )
    fail(
        f"{limiter_call(9)}, the server answering each request in {scaled(SLOWER):.2f} s: "
        f"{needless_wait(server, late)}\n"
        f"Expected: {RATE} requests at once, then each one as soon as the request {RATE} "
        f"places before it STARTED {scaled(PER):.2f} s ago (within "
        f"{scaled(MARGIN) * 1000:.0f} ms): 3 at 0.00 s, 3 at {scaled(PER):.2f} s, 3 at "
        f"{scaled(2 * PER):.2f} s.\n"
        "Try: start one task per url and let the limiter alone decide when each request goes; "
        "never wait for responses.\n\n" + timeline.draw()
    )


async def test_the_window_slides_it_is_not_reset_on_a_clock_tick(
    http_server: StartServer, timeline: Timeline, watch: Watch
) -> None:
    # Two bursts of 2 x RATE requests, 2.5 windows apart: whatever the phase of a clock tick,
    # one of the bursts starts at least half a window before a tick.
    server = api(http_server)
    limiter = rate_limit.RateLimiter(RATE, scaled(PER))
    async with warm_session(server) as session, client_group() as tg:
        for url in urls(server, 2 * RATE):
            tg.create_task(get_through(limiter, session, url))
        await asyncio.sleep(scaled(2.5 * PER))
        for url in urls(server, 2 * RATE, start=2 * RATE):
            tg.create_task(get_through(limiter, session, url))
    crowded = crowded_window(server)
    if crowded is None:
        return
    count, first, last = crowded
    fail(
        f"Two bursts of {2 * RATE} requests through one RateLimiter(rate={RATE}, "
        f"per={scaled(PER):.2f}), {scaled(2.5 * PER):.2f} s apart: the server saw {count} "
        f"requests start between {first:.2f} s and {last:.2f} s; {limit_rule()}.\n"
        f"{why_crowded(watch, timeline, 4 * RATE, scaled(PER))}\n\n{timeline.draw()}"
    )


async def test_a_request_that_gives_up_waiting_frees_its_turn(
    http_server: StartServer, timeline: Timeline
) -> None:
    # 3 requests fill the window; 3 more wait for it but give up after half a window; 3 more
    # come then: the ones that gave up took nothing, so these go when the window frees.
    server = api(http_server)
    limiter = rate_limit.RateLimiter(RATE, scaled(PER))

    async def impatient(url: str) -> None:
        try:
            async with asyncio.timeout(scaled(PER / 2)):
                await get_through(limiter, session, url)
        except TimeoutError:
            timeline.mark(f"gave up {url.removeprefix(server.url)}")

    async with warm_session(server) as session, client_group() as tg:
        for url in urls(server, RATE):
            tg.create_task(get_through(limiter, session, url))
        for url in urls(server, RATE, start=RATE):
            tg.create_task(impatient(url))
        await asyncio.sleep(scaled(PER / 2) + scaled(MARGIN) / 2)
        for url in urls(server, RATE, start=2 * RATE):
            tg.create_task(get_through(limiter, session, url))
    crowded = crowded_window(server)
    late, delay = latest_start(server)
    if crowded is None and delay <= scaled(MARGIN):
        return
    if crowded is not None:
        verdict = (
            f"{crowded[0]} requests started within {crowded[2] - crowded[1]:.2f} s, yet "
            f"{limit_rule()}."
        )
    else:
        verdict = (
            f"request {late + 1} started {delay:.2f} s later than the window allowed: the "
            "last requests waited for turns that the callers who gave up had reserved, and "
            "never used."
        )
    fail(
        f"RateLimiter(rate={RATE}, per={scaled(PER):.2f}): {RATE} requests, {RATE} callers "
        f"that gave up waiting after {scaled(PER / 2):.2f} s, then {RATE} more requests: "
        f"{verdict}\n"
        f"Expected: the last {RATE} to start when the first window frees up, "
        f"{scaled(PER):.2f} s after the first {RATE} (within {scaled(MARGIN) * 1000:.0f} ms).\n"
        "Try: a caller that stops waiting (its timeout, or cancel()) must not keep a passage: "
        "record a passage only once the wait is over, or undo your reservation when the wait "
        "is cancelled (except asyncio.CancelledError: undo it, then raise).\n\n" + timeline.draw()
    )


async def test_the_limit_holds_when_the_system_clock_is_set_back(
    http_server: StartServer, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = wall_clock(monkeypatch, rate_limit)  # time.time() as rate_limit.py sees it
    # An administrator (or NTP) sets the system clock back one hour while requests wait.
    server = api(http_server)
    patience = scaled(3 * PER + RESPONSE)  # the 9 requests need 2 * PER + RESPONSE

    async def set_the_clock_back() -> None:
        await asyncio.sleep(scaled(PER / 2))
        wall.offset = -3600.0
        timeline.mark("system clock set back 1 h")

    stalled = False
    async with warm_session(server) as session, client_group() as tg:
        tg.create_task(set_the_clock_back())
        try:
            async with asyncio.timeout(patience):
                await rate_limit.fetch_all_rate_limited(session, urls(server, 9), RATE, scaled(PER))
        except TimeoutError:
            stalled = True
    crowded = crowded_window(server)
    if not stalled and crowded is None:
        return
    seen = (
        f"had sent only {len(server.requests)} of the 9 requests after {patience:.2f} s"
        if stalled
        else f"let {crowded[0] if crowded else 0} requests start within one window"
    )
    cause = (
        f"rate_limit.py read the wall clock, time.time(), {wall.reads} times: a limiter "
        "on the wall clock computes its waits from a clock that jumps. Set back, it waits an "
        "hour for the clock to catch up; set forward, it lets a crowd through.\n"
        if wall.reads
        else ""
    )
    fail(
        f"{limiter_call(9)}, the system clock set back one hour at {scaled(PER / 2):.2f} s: it "
        f"{seen}.\n"
        f"{cause}"
        "Expected: the same schedule as always, 3 requests at 0.00 s, "
        f"{scaled(PER):.2f} s and {scaled(2 * PER):.2f} s: a rate limit measures durations.\n"
        "Try: measure time with `asyncio.get_running_loop().time()` (or time.monotonic()), a "
        "clock that only moves forward, at its own pace.\n\n" + timeline.draw()
    )


async def test_a_slow_response_does_not_hold_up_the_next_requests(
    http_server: StartServer, timeline: Timeline
) -> None:
    server = api(http_server)
    slow_first = [f"{server.url}/items/0?delay={SLOWEST}", *urls(server, 2 * RATE - 1, start=1)]
    async with warm_session(server) as session:
        await rate_limit.fetch_all_rate_limited(session, slow_first, RATE, scaled(PER))
    late, delay = latest_start(server)
    if delay <= scaled(MARGIN):
        return
    begin, started = starts(server)[0], starts(server)[late]
    slow = server.requests_to("/items/0")[0]
    seen = (
        f"request {late + 1} started at {started - begin:.2f} s, {delay:.2f} s later than the "
        "window allowed"
    )
    if slow.end is not None and started >= slow.end:
        seen += (
            f", only after the slow response of item 0 had come back (at {slow.end - begin:.2f} "
            "s): the next requests were held up by the slow response.\n"
            "Likely mistake: awaiting the responses of some requests (a group of `rate` "
            "gathered, say) before sending the next ones."
        )
    else:
        seen += "."
    fail(
        f"{limiter_call(2 * RATE)}, item 0 answering in {scaled(SLOWEST):.2f} s, the others in "
        f"{scaled(RESPONSE):.2f} s: {seen}\n"
        f"Expected: {RATE} requests at 0.00 s and {RATE} at {scaled(PER):.2f} s (within "
        f"{scaled(MARGIN) * 1000:.0f} ms), while item 0's response is still on its way: the "
        "window counts when requests start, not when they are answered.\n"
        "Try: start one task per url at once (a TaskGroup), send each request inside `async "
        "with` the limiter, and read the bodies from the tasks once they are all done.\n\n"
        + timeline.draw()
    )


async def item(request: web.Request) -> web.Response:
    """GET /items/{n}[?delay=s]: answers 'item n' after the delay."""
    await asyncio.sleep(scaled(float(request.query.get("delay", RESPONSE))))
    return web.Response(text=f"item {request.match_info['n']}")


async def ping(request: web.Request) -> web.Response:
    await asyncio.sleep(scaled(0.02))  # long enough for the pings to need a connection each
    return web.Response(text="pong")


def api(http_server: StartServer) -> HttpServer:
    return http_server([web.get("/items/{n}", item), web.get("/ping", ping)])


@contextlib.asynccontextmanager
async def warm_session(server: HttpServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session already holding open connections to the server, as a long-lived client
    does: opening them costs CPU time (a lot on a busy machine) that is not the limiter's doing.
    The warm-up requests are then forgotten, so the server's records start with the test's."""
    async with aiohttp.ClientSession() as session:

        async def warm_up() -> None:
            async with session.get(f"{server.url}/ping") as response:
                await response.read()

        async with asyncio.TaskGroup() as tg:
            for _ in range(2 * RATE):
                tg.create_task(warm_up())
        server.requests.clear()
        server.timeline.spans.clear()
        server.timeline.peak = 0
        yield session


def urls(server: HttpServer, count: int, start: int = 0) -> list[str]:
    return [f"{server.url}/items/{n}" for n in range(start, start + count)]


def limiter_call(count: int) -> str:
    return f"fetch_all_rate_limited(session, <{count} urls>, rate={RATE}, per={scaled(PER):.2f})"


def starts(server: HttpServer) -> list[float]:
    """When each request reached the server, in order."""
    return sorted(r.start for r in server.requests)


def crowded_window(server: HttpServer) -> tuple[int, float, float] | None:
    """The first run of more than RATE requests that reached the server within one window.

    A correct limiter lets request i+RATE go `per` seconds after request i, on the client's
    clock; the network may shift each arrival by a few ms, so the referee allows a margin:
    more than RATE requests within `per - margin` seconds break the limit. Times are counted
    from the first request, as on the drawn timeline.
    """
    times, window = starts(server), scaled(PER) - scaled(MARGIN)
    for first in range(len(times) - RATE):
        if times[first + RATE] - times[first] < window:
            inside = [t for t in times[first:] if t < times[first] + window]
            return len(inside), times[first] - times[0], inside[-1] - times[0]
    return None


def latest_start(server: HttpServer) -> tuple[int, float]:
    """The request that started longest after the limit allowed it, and by how long.

    The limit lets the first RATE requests go at once, and each later one `per` seconds after
    the request RATE places before it started.
    """
    times = starts(server)
    if not times:
        return 0, 0.0
    allowed = [times[0] if n < RATE else times[n - RATE] + scaled(PER) for n in range(len(times))]
    late = max(range(len(times)), key=lambda n: times[n] - allowed[n])
    return late, times[late] - allowed[late]


def needless_wait(server: HttpServer, late: int) -> str:
    """Explain why request `late` started later than the limit required."""
    times = starts(server)
    if server.timeline.peak == 1:
        return (
            "the requests ran one after another: each waited for the previous response. A rate "
            "limit does not forbid overlap: start one task per url (a TaskGroup) and let the "
            "limiter decide when each request goes."
        )
    if late < RATE:
        return (
            f"the first {RATE} requests did not go at once: request {late + 1} started "
            f"{times[late] - times[0]:.2f} s after the first. Spacing requests evenly, "
            f"per/rate = {scaled(PER) / RATE:.2f} s apart, never breaks the limit but wastes "
            "most of each window: the limit allows a burst of `rate`."
        )
    return (
        f"request {late + 1} started {times[late] - times[late - RATE]:.2f} s after request "
        f"{late + 1 - RATE}, though the window is only {scaled(PER):.2f} s: it waited for the "
        "responses of the previous group, and then for a whole window on top. The window "
        "counts from when the requests STARTED; what the responses do is not its business."
    )


def limit_rule() -> str:
    return f"at most {RATE} requests may start in any window of {scaled(PER):.2f} s"


async def get_through(
    limiter: rate_limit.RateLimiter, session: aiohttp.ClientSession, url: str
) -> None:
    """What a client does with the limiter: wait for a passage, then send the request."""
    async with limiter, session.get(url) as response:
        await response.read()


@contextlib.asynccontextmanager
async def client_group() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup of clients; if they fail, the first client's error shows, not all of them."""
    try:
        async with asyncio.TaskGroup() as tg:
            yield tg
    except ExceptionGroup as group:
        raise group.exceptions[0] from None


# ---------------------------------------------------------------- what the limiter did


@dataclass
class Passage:
    """One caller through the limiter: when acquire() returned, on the loop's clock."""

    at: float
    woke_from: float | None  # the deadline of the asyncio.sleep it woke from last, if any


@dataclass
class Watch:
    """What the learner's rate_limit module did: limiters and semaphores made, passages, sleeps."""

    limiters: int = 0
    semaphores: int = 0
    passages: list[Passage] = field(default_factory=list)
    _inside: set[asyncio.Task[Any]] = field(default_factory=set)
    _woke_from: dict[asyncio.Task[Any], float] = field(default_factory=dict)

    async def passage(self, call: Coroutine[Any, Any, Any]) -> Any:
        task = asyncio.current_task()
        assert task is not None
        if task in self._inside:  # __aenter__ calling acquire(): one passage
            return await call
        self._inside.add(task)
        self._woke_from.pop(task, None)
        try:
            result = await call
        finally:
            self._inside.discard(task)
        loop = asyncio.get_running_loop()
        self.passages.append(Passage(loop.time(), self._woke_from.pop(task, None)))
        return result

    async def sleep(self, delay: float, result: Any = None) -> Any:
        task = asyncio.current_task()
        if task in self._inside:
            self._woke_from[task] = asyncio.get_running_loop().time() + delay
        return await asyncio.sleep(delay, result)


@pytest.fixture(name="watch")
def limiter_watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    """Watch the learner's module: every RateLimiter made and passed, every sleep, semaphore."""
    watched = Watch()
    learners = rate_limit.RateLimiter

    class RateLimiter(learners):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            watched.limiters += 1

        async def acquire(self) -> Any:
            return await watched.passage(super().acquire())

        async def __aenter__(self) -> Any:
            return await watched.passage(super().__aenter__())

    class Semaphore(asyncio.Semaphore):
        def __init__(self, value: int = 1) -> None:
            super().__init__(value)
            watched.semaphores += 1

    monkeypatch.setattr(rate_limit, "RateLimiter", RateLimiter)
    swap_in(
        monkeypatch,
        rate_limit,
        asyncio,
        sleep=watched.sleep,
        Semaphore=Semaphore,
        BoundedSemaphore=Semaphore,
    )
    return watched


def why_crowded(watch: Watch, timeline: Timeline, requests: int, per: float) -> str:
    """What the run shows about a window that let too many requests through: the likely cause
    only when the limiter's passages (or the absence of a limiter) show it."""
    if not watch.passages:
        if watch.semaphores and timeline.peak <= RATE:
            return (
                f"No RateLimiter was passed through, but {watch.semaphores} asyncio.Semaphore "
                f"was created, and never more than {timeline.peak} requests were in flight: an "
                "asyncio.Semaphore(rate) in place of a rate limiter. It limits how many requests "
                "are in flight, not how many START per window: a fast server answers, and the "
                "next request goes at once.\n"
                "Try: send every request inside `async with` ONE RateLimiter(rate, per)."
            )
        if not watch.semaphores and timeline.peak == requests:
            return (
                f"No RateLimiter was passed through and no semaphore made: all {requests} "
                "requests were in flight at once, nothing limited them.\n"
                "Try: create ONE RateLimiter(rate, per) before the tasks, and send every request "
                "inside `async with` that same limiter."
            )
        return "No RateLimiter was passed through.\nTry: send every request inside `async with` it."
    if watch.limiters > 1:
        return (
            f"{watch.limiters} RateLimiter objects were made for {len(watch.passages)} "
            "passages: a limiter created for each request has an empty window of its own and "
            "never waits.\n"
            "Try: create ONE RateLimiter(rate, per) before the tasks, and send every request "
            "inside `async with` that same limiter."
        )
    crowd = crowded_passages(watch.passages, per)
    woken = sorted(p.woke_from for p in crowd if p.woke_from is not None)
    together = max(same_moment_runs(woken), key=len, default=[])
    if len(together) > RATE:
        return (
            f"{len(together)} callers went through acquire() together, every one of them woken "
            "from an asyncio.sleep() that ended at the same moment, though only "
            f"{RATE} fit in a window: each had found the window full, computed the same wait, "
            "and went when it ended without looking again, blind to the others.\n"
            "Likely mistake: no asyncio.Lock in acquire() around the check, the wait and the "
            "record: with the lock, one caller at a time decides, and records its passage "
            "before the next one looks.\n"
            "Try: `async with self._lock:` around the whole of acquire()."
        )
    if woken and all(on_a_tick(deadline, per) for deadline in woken):
        return (
            "The callers that waited were let through exactly on multiples of `per` on the "
            "loop's clock: a counter reset on a clock tick (`loop.time() // per`), a fixed "
            "window. A burst just before a tick and another right after it are only moments "
            "apart, yet counted apart.\n"
            "Try: let the window slide with each request: remember when the last `rate` went "
            "(a deque), and let the next one go only once the oldest is `per` seconds old."
        )
    times, spacing = [p.at for p in crowd], per / RATE
    burst = [t for t in times if t - times[0] < spacing / 2]
    refills = times[len(burst) - 1 :]
    gaps = [b - a for a, b in itertools.pairwise(refills)]
    if gaps and all(abs(gap - spacing) < spacing / 4 for gap in gaps):
        return (
            f"After a burst of {len(burst)}, one more caller every {spacing:.2f} s "
            "(per / rate): a token bucket of `rate` tokens refilled one by one. It keeps the "
            "average rate, but the full bucket's burst and the refills land in one window.\n"
            "Try: keep a log of the last `rate` passages instead (a deque of loop.time()), and "
            "let the next one go only once the oldest is `per` seconds old."
        )
    per_tick = Counter(int(p.at // per) for p in watch.passages)
    if len({int(p.at // per) for p in crowd}) > 1 and max(per_tick.values()) <= RATE:
        return (
            f"{len(crowd)} callers went within one window of {per:.2f} s, across a multiple of "
            f"`per` on the loop's clock, yet no stretch between two such multiples held more "
            f"than {RATE}: a counter reset on a clock tick (`loop.time() // per`), a fixed "
            "window. A burst just before a tick and another right after it are only moments "
            "apart, yet counted apart.\n"
            "Try: let the window slide with each request: remember when the last `rate` went "
            "(a deque), and let the next one go only once the oldest is `per` seconds old."
        )
    return (
        "Try: remember when the last `rate` requests went (a deque of loop.time()), and let "
        "the next one go only once the oldest of them is `per` seconds old."
    )


def crowded_passages(passages: list[Passage], per: float) -> list[Passage]:
    """The passages of the first window holding more than RATE, as the callers saw them go
    (a caller sees its passage a little after the limiter records it: the same margin as the
    server's referee)."""
    ordered, window = sorted(passages, key=lambda p: p.at), per - scaled(MARGIN)
    for first in range(len(ordered) - RATE):
        if ordered[first + RATE].at - ordered[first].at < window:
            return [p for p in ordered[first:] if p.at < ordered[first].at + window]
    return []


def same_moment_runs(moments: list[float]) -> list[list[float]]:
    """Sorted moments grouped into runs, each closer than SAME_MOMENT to the one before."""
    runs: list[list[float]] = []
    for moment in moments:
        if runs and moment - runs[-1][-1] < SAME_MOMENT:
            runs[-1].append(moment)
        else:
            runs.append([moment])
    return runs


def on_a_tick(moment: float, per: float) -> bool:
    offset = moment % per
    return min(offset, per - offset) < SAME_MOMENT


# ---------------------------------------------------------------- the behaviours
