from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterable

import aiohttp
import http_client
import pytest
from aiohttp import web
from harness import Timeline, cancel_midway, fail, instances_made, scaled
from http_client import Result
from servers import HttpServer

StartServer = Callable[[Iterable[web.AbstractRouteDef]], HttpServer]

# Three endpoints, the first the slowest: they finish in the reverse order of the URLs.
SLOWEST_FIRST = {"/a": 0.3, "/b": 0.2, "/c": 0.1}
# Six endpoints of 0.1 s: with limit=2, a shared session needs at most 2 connections.
EQUAL = dict.fromkeys(["/a", "/b", "/c", "/d", "/e", "/f"], 0.1)
# With limit=2: /slow holds one slot for 0.4 s while /b, /c and /d pass through the other one,
# so /c and /d start while /slow is still in flight. In batches of two ([/slow /b], then
# [/c /d]) or one after another, they start only after it.
SLIDING = {"/slow": 0.4, "/b": 0.1, "/c": 0.1, "/d": 0.1}


async def test_the_results_come_back_in_the_order_of_the_urls(
    http_server: StartServer, timeline: Timeline
) -> None:
    server, urls = serve(http_server, SLOWEST_FIRST)
    results = await fetch_checked(server, urls, limit=3)
    got = [r.url for r in results]
    if got != urls:
        fail(
            f"{fetch_call(server, urls, 3)} returned the results for "
            f"{[u.removeprefix(server.url) for u in got]}, expected them for "
            f"{list(SLOWEST_FIRST)}: in the order of the urls, not the order in which the "
            "requests finished (/a is the slowest, so it finishes last).\n"
            "Likely mistake: appending each Result to a list as its request completes "
            "(asyncio.as_completed, workers).\n"
            "Try: one task per URL, kept in a list in URL order, and read the results from "
            "those tasks (asyncio.gather keeps the order of its arguments too).\n\n"
            + timeline.draw()
        )
    for result, url in zip(results, urls, strict=True):
        expect_ok(result, url, fetch_call(server, urls, 3))


async def test_the_requests_are_in_flight_together_not_one_after_another(
    http_server: StartServer, timeline: Timeline
) -> None:
    server, urls = serve(http_server, SLOWEST_FIRST)
    results = await fetch_checked(server, urls, limit=3)
    # Read at the server: with limit=3, /a and /b must arrive before /c (0.1 s) is done.
    timeline.expect_all_started_before_any_finished(
        f"the requests of {fetch_call(server, urls, 3)} (one after another, they would take "
        "0.3 + 0.2 + 0.1 = 0.6 s instead of 0.3 s)"
    )
    for result, url in zip(results, urls, strict=True):
        expect_ok(result, url, fetch_call(server, urls, 3))


async def test_never_more_than_limit_requests_at_once(
    http_server: StartServer, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    semaphores = instances_made(monkeypatch, http_client, asyncio, "Semaphore", "BoundedSemaphore")
    server, urls = serve(http_server, EQUAL)
    await fetch_checked(server, urls, limit=2)
    if timeline.peak <= 2:
        return
    made = len(semaphores)
    if made >= len(urls):
        seen = (
            f"{made} asyncio.Semaphore objects were created for {len(urls)} requests: a "
            "semaphore created inside each request has free slots of its own, so no request "
            "ever waits for another."
        )
    elif made == 0 and timeline.peak == len(urls):
        seen = (
            "All of them at once, and no asyncio.Semaphore was created: nothing limited them "
            "(asyncio.gather or a TaskGroup alone starts every request)."
        )
    else:
        seen = (
            f"{made} semaphore(s) were created, yet some requests did not wait for a free "
            "slot: is every request inside `async with` the semaphore?"
        )
    fail(
        f"{fetch_call(server, urls, 2)}: the server had {timeline.peak} requests in flight at "
        f"the same time; expected at most 2.\n{seen}\n"
        "Try: ONE asyncio.Semaphore(limit) for the whole call, and every request inside "
        "`async with` it (or a session built on aiohttp.TCPConnector(limit=limit)).\n\n"
        + timeline.draw()
    )


async def test_the_next_request_starts_as_soon_as_one_finishes(
    http_server: StartServer, timeline: Timeline
) -> None:
    server, urls = serve(http_server, SLIDING)
    await fetch_checked(server, urls, limit=2)
    slow_end = timeline.span("GET /slow").end or timeline.now()
    late = [path for path in ["/c", "/d"] if timeline.span(f"GET {path}").start >= slow_end]
    if not late:
        return
    fail(
        f"{fetch_call(server, urls, 2)}: {' and '.join(late)} started only after /slow (0.4 s) "
        "had finished, although the other slot was free long before: /b, /c and /d take 0.1 s "
        "each, so all three fit into one slot while /slow holds the other.\n"
        "Likely mistake: requests in batches of `limit` (one gather per batch waits for its "
        "slowest request), or one after another.\n"
        "Expected: /c and /d in flight while /slow still is, all done in about 0.4 s.\n"
        "Try: one task per URL, all started at once, each inside `async with` ONE shared "
        "asyncio.Semaphore(limit): a request takes a slot the moment any running one ends.\n\n"
        + timeline.draw()
    )


async def test_every_request_goes_through_one_shared_session(
    http_server: StartServer, timeline: Timeline
) -> None:
    server, urls = serve(http_server, EQUAL)
    await fetch_checked(server, urls, limit=2)
    if server.connections <= 2:
        return
    if timeline.peak > 2:
        why = (
            f"{timeline.peak} requests were in flight at once, and each needed a connection of "
            "its own: with more than `limit` requests at once, the pool opened that many.\n"
            "Try: ONE asyncio.Semaphore(limit) around every request (or a session built on "
            "aiohttp.TCPConnector(limit=limit)): then the pool never needs more than `limit` "
            "connections, and reuses them."
        )
    else:
        why = (
            f"Never more than {timeline.peak} requests at once, yet the connections were not "
            "reused: a new ClientSession for every request. Each session has its own "
            "connection pool, so every request pays a new connection (TCP, and TLS on https) "
            "and the server counts you as many clients.\n"
            "Try: create ONE aiohttp.ClientSession for the whole call "
            "(`async with aiohttp.ClientSession() as session:`) and make every request with "
            "it: its pool keeps the connections open and hands them to the next request."
        )
    fail(
        f"{fetch_call(server, urls, 2)}: the server saw {server.connections} TCP connections "
        f"for {len(urls)} requests; expected at most 2 (the limit).\n{why}\n\n{timeline.draw()}"
    )


async def test_a_404_and_a_500_are_reported_for_their_url_and_the_others_still_arrive(
    http_server: StartServer,
) -> None:
    server = http_server([endpoint("/a", 0.1), endpoint("/broken", 0.1, 500), endpoint("/b", 0.2)])
    urls = [server.url + path for path in ["/a", "/missing", "/broken", "/b"]]
    call = fetch_call(server, urls, 2)
    results = await fetch_checked(server, urls, limit=2)
    expect_ok(results[0], urls[0], call)
    expect_ok(results[3], urls[3], call)
    for result, url, status in [(results[1], urls[1], 404), (results[2], urls[2], 500)]:
        path = url.removeprefix(server.url)
        if result.url == url and result.status == status and result.data is None and result.error:
            continue
        fail(
            f"{call}: the Result for {path} is {result}; expected Result(url, status={status}, "
            "data=None, error='...'): the server answered that URL with HTTP "
            f"{status}, so it failed, and its `error` must say so.\n"
            + (
                "Its JSON body was taken as the data: the status was never checked. An "
                "error answer can have a JSON body too.\n"
                if result.data is not None
                else ""
            )
            + "Try: `if not response.ok:` (status 400 or above), return "
            "Result(url, response.status, error=f'HTTP {response.status}') before you read "
            "the body as data."
        )


async def test_a_body_that_is_not_json_is_reported_for_its_url(http_server: StartServer) -> None:
    server = http_server([endpoint("/a", 0.1), not_json("/page"), endpoint("/b", 0.2)])
    urls = [server.url + path for path in ["/a", "/page", "/b"]]
    call = fetch_call(server, urls, 3)
    results = await fetch_checked(server, urls, limit=3)
    expect_ok(results[0], urls[0], call)
    expect_ok(results[2], urls[2], call)
    page = results[1]
    if page.url == urls[1] and page.status == 200 and page.data is None and page.error:
        return
    fail(
        f"{call}: the Result for /page is {page}; expected status=200, data=None and an "
        "error: /page answered 200 with an HTML page, which is not JSON.\n"
        "Try: catch what `await response.json()` raises (aiohttp.ContentTypeError, a "
        "ValueError) and return it as that URL's Result(error=...)."
    )


async def test_a_server_that_hangs_up_is_reported_for_its_url(http_server: StartServer) -> None:
    server = http_server([endpoint("/a", 0.1), hangs_up("/crash"), endpoint("/b", 0.2)])
    urls = [server.url + path for path in ["/a", "/crash", "/b"]]
    call = fetch_call(server, urls, 3)
    results = await fetch_checked(server, urls, limit=3)
    expect_ok(results[0], urls[0], call)
    expect_ok(results[2], urls[2], call)
    crash = results[1]
    if crash.url == urls[1] and crash.status is None and crash.data is None and crash.error:
        return
    fail(
        f"{call}: the Result for /crash is {crash}; expected Result(url, status=None, "
        "data=None, error='...'): that server closed the connection without an answer, so no "
        "status came, and the `error` must say what happened.\n"
        "Try: catch aiohttp.ClientError around the request of each URL (a connection that "
        "fails or hangs up raises one) and return it as that URL's Result(error=...)."
    )


async def test_a_cancelled_call_stops_its_requests_and_closes_the_session(
    http_server: StartServer, timeline: Timeline
) -> None:
    server, urls = serve(http_server, dict.fromkeys(["/a", "/b", "/c", "/d"], 0.4))
    call = fetch_call(server, urls, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await cancel_midway(fetch_json_all(urls, limit=2), after=0.2, what=call, timeline=timeline)
    expect_no_unclosed_session(caught, call)


async def test_the_session_is_closed_when_the_call_returns(http_server: StartServer) -> None:
    server, urls = serve(http_server, {"/a": 0.1, "/b": 0.1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # CPython frees the session the moment the call's last reference to it is gone, and
        # aiohttp warns "Unclosed client session" right then if nobody closed it.
        await fetch_json_all(urls, limit=2)
    expect_no_unclosed_session(caught, fetch_call(server, urls, 2))


def endpoint(path: str, delay: float, status: int = 200) -> web.RouteDef:
    """A JSON endpoint that answers after `delay` (scaled) seconds with {"item": path}."""

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(scaled(delay))
        if status != 200:
            return web.json_response({"error": "the database is down"}, status=status)
        return web.json_response({"item": path})

    return web.get(path, handle)


def not_json(path: str) -> web.RouteDef:
    """An endpoint that answers 200 with an HTML page instead of JSON (a proxy's error page)."""

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(scaled(0.1))
        return web.Response(text="<html>Service Unavailable</html>", content_type="text/html")

    return web.get(path, handle)


def hangs_up(path: str) -> web.RouteDef:
    """An endpoint whose server closes the connection without answering (it crashed)."""

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(scaled(0.1))
        if request.transport is not None:
            request.transport.close()
        return web.Response(text="never sent")

    return web.get(path, handle)


def serve(http_server: StartServer, delays: dict[str, float]) -> tuple[HttpServer, list[str]]:
    """Start a server with one endpoint per path; return it and the URLs in the given order."""
    server = http_server([endpoint(path, delay) for path, delay in delays.items()])
    return server, [server.url + path for path in delays]


def fetch_call(server: HttpServer, urls: list[str], limit: int) -> str:
    paths = [url.removeprefix(server.url) for url in urls]
    return f"fetch_json_all({paths}, limit={limit})"


async def fetch_json_all(urls: list[str], limit: int) -> list[Result]:
    """The learner's fetch_json_all, looked up at call time (a test may watch its module)."""
    return await http_client.fetch_json_all(urls, limit)


async def fetch_checked(server: HttpServer, urls: list[str], limit: int) -> list[Result]:
    """Call the learner's fetch_json_all; an exception out of it, or a leaked session, fails."""
    call = fetch_call(server, urls, limit)
    error: Exception | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            results = await fetch_json_all(urls, limit)
        except NotImplementedError:
            raise
        except Exception as raised:  # an ExceptionGroup too: a TaskGroup wraps what tasks raise
            error = raised
    if error is not None:
        fail(escaped(call, error))
    expect_no_unclosed_session(caught, call)
    if not (isinstance(results, list) and len(results) == len(urls)) or not all(
        isinstance(r, Result) for r in results
    ):
        fail(
            f"{call} returned {results!r}; expected a list of {len(urls)} Result objects, one "
            "per URL, in the order of the urls."
        )
    return results


def escaped(call: str, error: Exception) -> str:
    """What to say when an exception of one URL came out of fetch_json_all: its cause."""
    first: BaseException = error
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    inner = f" ({type(first).__name__}: {first})" if first is not error else f": {error}"
    if isinstance(first, (aiohttp.ContentTypeError, ValueError)):  # ValueError: bad JSON
        cause = (
            "`await response.json()` raised for a body that is not JSON: a JSON decode error "
            "nobody catches."
        )
    elif isinstance(first, aiohttp.ClientResponseError):
        cause = (
            f"aiohttp raised ClientResponseError for an HTTP {first.status} answer: "
            "raise_for_status() turned an answer into an exception (called on the response, "
            "or ClientSession(raise_for_status=True)), and nothing caught it."
        )
    elif isinstance(first, aiohttp.ClientError):
        cause = (
            f"no answer came (the connection failed, or the server hung up), and aiohttp "
            f"raised {type(first).__name__}: a connection error nobody catches."
        )
    else:
        cause = "the error of one URL escaped from its task."
    return (
        f"{call} raised {type(error).__name__}{inner}: the failure of one URL lost every "
        f"other result.\nWhat happened: {cause}\n"
        "Expected: one Result per URL, with the failed ones' `error` set; the call itself "
        "never raises for a URL that fails. In a TaskGroup (or gather), the first exception "
        "cancels (or discards) every other request.\n"
        "Try: check `response.ok` yourself, and turn an aiohttp.ClientError or a ValueError "
        "of one URL into that URL's Result(error=...), inside the task of that URL."
    )


def expect_no_unclosed_session(caught: list[warnings.WarningMessage], call: str) -> None:
    """Fail if aiohttp warned that a session was never closed; give other warnings back."""
    __tracebackhide__ = True
    unclosed = [str(w.message) for w in caught if str(w.message).startswith("Unclosed")]
    for w in caught:
        if not str(w.message).startswith("Unclosed"):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if unclosed:
        fail(
            f"{call} returned, but its aiohttp session was never closed (aiohttp warned: "
            f"{unclosed[0].split(' <')[0]!r}): its connections stay open at the server until "
            "the garbage collector finds them, and in a long-running program they pile up.\n"
            "Try: `async with aiohttp.ClientSession() as session:` around all the requests: it "
            "closes the session and its connections when the block ends, also on an error."
        )


def expect_ok(result: Result, url: str, call: str) -> None:
    __tracebackhide__ = True
    path = url.rsplit("/", 1)[-1]
    expected = Result(url, 200, {"item": f"/{path}"}, None)
    if result != expected:
        fail(
            f"{call}: the Result for /{path} is {result}, expected {expected}: that endpoint "
            "answered 200 with JSON, so `status` is 200, `data` the decoded body "
            "(`await response.json()`) and `error` None."
        )
