import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import rate_limit
from aiohttp import web
from harness import MARGIN, Timeline, scaled
from servers import HttpServer

StartServer = Callable[[list[web.RouteDef]], HttpServer]

RATE = 3  # requests allowed in any window...
PER = 0.3  # ...of this many seconds
RESPONSE = 0.1  # how long the server takes to answer a request, unless ?delay= says otherwise


# ---------------------------------------------------------------- the server and its referee


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


def call(count: int) -> str:
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
async def clients() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup of clients; if they fail, the first client's error shows, not all of them."""
    try:
        async with asyncio.TaskGroup() as tg:
            yield tg
    except ExceptionGroup as group:
        raise group.exceptions[0] from None


# ---------------------------------------------------------------- the behaviours


async def test_the_bodies_come_back_in_the_order_of_the_urls(
    http_server: StartServer, timeline: Timeline
) -> None:
    server = api(http_server)
    slow_first = [f"{server.url}/items/0?delay=0.3", *urls(server, 2, start=1)]
    async with warm_session(server) as session:
        bodies = await rate_limit.fetch_all_rate_limited(session, slow_first, RATE, scaled(PER))
    expected = ["item 0", "item 1", "item 2"]
    if bodies != expected:
        pytest.fail(
            f"{call(3)} returned {bodies!r}, expected {expected!r}: the bodies must follow the "
            "order of the urls, not the order the responses came back in (item 0 is the "
            "slowest, so it comes back last).\n"
            "Likely mistake: appending each body to a list as its response arrives.\n"
            "Try: keep one task per url in a list, in url order, and read the bodies from those "
            "tasks (asyncio.gather keeps the order of its arguments too).\n\n" + timeline.draw(),
            pytrace=False,
        )


async def test_the_server_never_sees_more_than_rate_requests_in_any_window(
    http_server: StartServer, timeline: Timeline
) -> None:
    server = api(http_server)
    async with warm_session(server) as session:
        await rate_limit.fetch_all_rate_limited(session, urls(server, 9), RATE, scaled(PER))
    crowded = crowded_window(server)
    if crowded is None:
        return
    count, first, last = crowded
    if count == len(server.requests) and timeline.peak > RATE:
        mistake = (
            f"{timeline.peak} of them were in flight at once: nothing limited them.\n"
            "Likely mistake: no limiter around the request, or a limiter created for each "
            "request (each one has its own empty window and never waits).\n"
            "Try: create ONE RateLimiter(rate, per) before the tasks, and send every request "
            "inside `async with` that same limiter."
        )
    else:
        mistake = (
            "Likely mistakes:\n"
            "  - an asyncio.Semaphore(rate) in place of a rate limiter: it limits how many "
            "requests are in flight, not how many START per window; a fast server answers, and "
            "the next request goes at once;\n"
            "  - a token bucket that holds `rate` tokens and refills them one by one: a full "
            "bucket's burst plus the tokens refilled meanwhile all land in one window;\n"
            "  - a counter reset on a clock tick (a fixed window): a burst just before the "
            "tick and another right after it are only moments apart.\n"
            "Try: remember when the last `rate` requests went (a deque), and let the next one "
            "go only once the oldest of them is `per` seconds old."
        )
    pytest.fail(
        f"{call(9)}: the server saw {count} requests start between {first:.2f} s and "
        f"{last:.2f} s, within {last - first:.2f} s; {limit_rule()}.\n{mistake}\n\n"
        + timeline.draw(),
        pytrace=False,
    )


async def test_each_request_starts_as_soon_as_the_window_allows(
    http_server: StartServer, timeline: Timeline
) -> None:
    server = api(http_server)
    async with warm_session(server) as session:
        await rate_limit.fetch_all_rate_limited(session, urls(server, 9), RATE, scaled(PER))
    late, delay = latest_start(server)
    if delay <= scaled(MARGIN):
        return
    pytest.fail(
        f"{call(9)}, the server answering each request in {scaled(RESPONSE):.2f} s: "
        f"{needless_wait(server, late)}\n"
        f"Expected: {RATE} requests at once, then each one as soon as the request {RATE} "
        f"places before it STARTED {scaled(PER):.2f} s ago (within "
        f"{scaled(MARGIN) * 1000:.0f} ms): 3 at 0.00 s, 3 at {scaled(PER):.2f} s, 3 at "
        f"{scaled(2 * PER):.2f} s.\n"
        "Try: start one task per url and let the limiter alone decide when each request goes; "
        "never wait for responses.\n\n" + timeline.draw(),
        pytrace=False,
    )


async def test_the_window_slides_it_is_not_reset_on_a_clock_tick(
    http_server: StartServer, timeline: Timeline
) -> None:
    # Two bursts of 2 x RATE requests, 2.5 windows apart: whatever the phase of a clock tick,
    # one of the bursts starts at least half a window before a tick.
    server = api(http_server)
    limiter = rate_limit.RateLimiter(RATE, scaled(PER))
    async with warm_session(server) as session, clients() as tg:
        for url in urls(server, 2 * RATE):
            tg.create_task(get_through(limiter, session, url))
        await asyncio.sleep(scaled(2.5 * PER))
        for url in urls(server, 2 * RATE, start=2 * RATE):
            tg.create_task(get_through(limiter, session, url))
    crowded = crowded_window(server)
    if crowded is None:
        return
    count, first, last = crowded
    pytest.fail(
        f"Two bursts of {2 * RATE} requests through one RateLimiter(rate={RATE}, "
        f"per={scaled(PER):.2f}), {scaled(2.5 * PER):.2f} s apart: the server saw {count} "
        f"requests start between {first:.2f} s and {last:.2f} s; {limit_rule()}.\n"
        "Likely mistake: a counter reset every `per` seconds (on a clock tick such as "
        "`loop.time() // per`, or by a timer): a fixed window. Requests at the end of one "
        "window and at the start of the next are only moments apart, yet counted apart. "
        "(Or one of the mistakes that "
        "test_the_server_never_sees_more_than_rate_requests_in_any_window names.)\n"
        "Try: let the window slide with each request: remember when the last `rate` requests "
        "went (a deque), and let the next one go only once the oldest is `per` seconds old.\n\n"
        + timeline.draw(),
        pytrace=False,
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

    async with warm_session(server) as session, clients() as tg:
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
    pytest.fail(
        f"RateLimiter(rate={RATE}, per={scaled(PER):.2f}): {RATE} requests, {RATE} callers "
        f"that gave up waiting after {scaled(PER / 2):.2f} s, then {RATE} more requests: "
        f"{verdict}\n"
        f"Expected: the last {RATE} to start when the first window frees up, "
        f"{scaled(PER):.2f} s after the first {RATE} (within {scaled(MARGIN) * 1000:.0f} ms).\n"
        "Try: a caller that stops waiting (its timeout, or cancel()) must not keep a passage: "
        "record a passage only once the wait is over, or undo your reservation when the wait "
        "is cancelled (except asyncio.CancelledError: undo it, then raise).\n\n" + timeline.draw(),
        pytrace=False,
    )
