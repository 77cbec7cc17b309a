from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from itertools import pairwise

import aiohttp
import pytest
from aiohttp import web
from harness import EARLY, MARGIN, Timeline, cancel_midway, fail, scaled
from retry_backoff import GaveUp, get_with_retry
from servers import HttpServer, Request

StartServer = Callable[[Iterable[web.AbstractRouteDef]], HttpServer]
Handler = Callable[[web.Request], Awaitable[web.Response]]

BASE = 0.1  # seconds: with full draws the waits are 0.1, 0.2, 0.4 s (constant: 0.1, 0.1, 0.1)
QUICK = 0.01  # seconds: for the tests where the waits are not the point
RETRY_AFTER = 0.4  # seconds the server asks for; the client's own wait would be far shorter
BACKOFF = (
    "Try: after the failure of attempt i (0, 1, 2, ...) wait "
    "`await asyncio.sleep(rng.uniform(0, base_delay * 2**i))`: each wait may be up to twice "
    "the one before (exponential backoff), and the random source spreads the clients out."
)


async def test_a_flaky_endpoint_answers_after_its_503s(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/flaky", failing(2))])
    url, rng = server.url + "/flaky", FixedRandom(1.0)
    body = await get_with_retry(session, url, attempts=4, base_delay=scaled(QUICK), rng=rng)
    sent = len(server.requests)
    if body == "hello" and sent == 3:
        return
    if body == "busy, try later":
        mistake = "it returned the body of a 503: check `response.status` before you read it."
    elif sent < 3:
        mistake = f"only {sent} request(s) reached the server: a 503 must be asked again."
    else:
        mistake = f"the server saw {sent} requests: the third one succeeded, so stop there."
    fail(
        f"{retry_call(url, 4, QUICK, rng)} returned {body!r}; the server answers 503 twice, then "
        f"200 'hello', so expected 'hello' after 3 requests: {mistake}\n\n{timeline.draw()}"
    )


async def test_each_wait_doubles_the_one_before(
    http_server: StartServer,
    session: aiohttp.ClientSession,
    timeline: Timeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = http_server([web.get("/flaky", failing(3))])
    url, rng = server.url + "/flaky", FixedRandom(1.0)
    module_random = ModuleRandom(monkeypatch)
    body = await get_with_retry(session, url, attempts=4, base_delay=scaled(BASE), rng=rng)
    expected = [BASE, 2 * BASE, 4 * BASE]
    measured = waits_seen(server.requests)
    # The draws count too: waits from another random source can land near full by chance.
    if body == "hello" and rng.draws >= len(expected) and not wrong_waits(measured, expected):
        return
    if len(measured) != len(expected):
        verdict = f"the server saw {len(server.requests)} requests; expected 4 (3 x 503, then 200)."
    elif max(measured) < scaled(MARGIN) / 2:
        verdict = "it retried at once: it did not wait between the attempts at all."
    elif module_random.draws:
        verdict = (
            f"it drew {module_random.draws} time(s) from the random module (random.uniform?) "
            "instead of the rng it was given: another random source, one the caller cannot "
            "steer or seed."
        )
    elif not rng.draws and not wrong_waits(measured, expected):
        verdict = (
            "it waited the full windows without drawing from the rng it was given: no jitter. "
            "Clients that failed together would retry together."
        )
    elif rng.draws < len(expected):
        verdict = (
            f"it drew from the rng it was given {rng.draws} time(s) for {len(expected)} waits: "
            "its waits came from another random source, one the caller cannot steer or seed."
        )
    elif max(measured) - min(measured) < scaled(MARGIN):
        verdict = (
            "every wait was the same: a constant delay. Each wait must double the one before, "
            "or a struggling server is hit just as hard for as long as it is down."
        )
    else:
        verdict = "the waits did not double one after another (base_delay * 2**i)."
    fail(
        f"{retry_call(url, 4, BASE, rng)} (503, 503, 503, then 200; every draw at its maximum, "
        f"so every wait its full backoff): the server saw waits of {seconds(measured)}, "
        f"expected {seconds(scaled(e) for e in expected)} (each within {MARGIN * 1000:.0f} ms): "
        f"{verdict}\n{BACKOFF}\n\n{timeline.draw()}"
    )


async def test_clients_that_fail_together_retry_at_different_moments(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    # Waits of 0.1, 0.2 and 0.3 s, then twice that: each wait, and each gap between two
    # clients' waits, at least 0.1 s (a 0.05 s gap is within the margin of one measurement).
    draws = {"/a": 0.25, "/b": 0.5, "/c": 0.75}
    base = 4 * BASE
    server = http_server([web.get(path, failing(2)) for path in draws])
    rngs = {path: FixedRandom(value) for path, value in draws.items()}
    outcomes = await asyncio.gather(
        *(
            get_with_retry(session, server.url + path, attempts=3, base_delay=scaled(base), rng=rng)
            for path, rng in rngs.items()
        ),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    expected = {path: [value * base, value * base * 2] for path, value in draws.items()}
    measured = {path: waits_seen(server.requests_to(path)) for path in draws}
    calls = "\n".join(
        f"  {retry_call(server.url + path, 3, base, rng)}: waits of {seconds(measured[path])}, "
        f"expected {seconds(scaled(e) for e in expected[path])}"
        for path, rng in rngs.items()
    )
    story = (
        "Three clients, each answered 503 twice, at the same moment (a server restart does "
        f"that), each with its own random source:\n{calls}\n"
    )
    if not any(rng.draws for rng in rngs.values()):
        full = {path: [base, 2 * base] for path in draws}
        if not any(wrong_waits(measured[path], full[path]) for path in draws):
            seen = (
                "None of them drew from its rng, and all three waited the same full windows, "
                f"{seconds(scaled(w) for w in full['/a'])}: no jitter. Clients that failed "
                "together retry together, and knock the server over again."
            )
        else:
            seen = (
                "None of them drew from the rng it was given, yet their waits are not full "
                "windows either: they came from another random source (the module's "
                "random.uniform?), which the caller cannot steer or seed."
            )
        fail(f"{story}{seen}\n{BACKOFF}\n\n{timeline.draw()}")
    if any(wrong_waits(measured[path], expected[path]) for path in draws):
        fail(
            f"{story}Expected each wait to be rng.uniform(0, base_delay * 2**i): the draw "
            "picks where in the window the client retries, so the three spread out.\n"
            f"{BACKOFF}\n\n{timeline.draw()}"
        )


async def test_a_retry_after_header_sets_the_wait(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/busy", failing(1, retry_after=RETRY_AFTER))])
    url, rng = server.url + "/busy", FixedRandom(0.5)
    body = await get_with_retry(session, url, attempts=3, base_delay=scaled(QUICK), rng=rng)
    measured = waits_seen(server.requests)
    if body == "hello" and not wrong_waits(measured, [RETRY_AFTER]):
        return
    own = 0.5 * QUICK
    fail(
        f"{retry_call(url, 3, QUICK, rng)}: the first answer was a 503 with "
        f"`Retry-After: {scaled(RETRY_AFTER):g}`, then 'hello'. The server saw waits of "
        f"{seconds(measured)}; expected {seconds([scaled(RETRY_AFTER)])}: the server said when it "
        f"will be ready, so wait exactly that long instead of your own backoff "
        f"({scaled(own):.3f} s here), and without jitter on it (retrying early is ignoring it).\n"
        "Try: `retry_after = response.headers.get('Retry-After')`; if it is there, "
        "`await asyncio.sleep(float(retry_after))`, else your backoff.\n\n" + timeline.draw()
    )


async def test_a_retry_after_that_is_no_number_of_seconds_is_ignored(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    # Each route answers 503 once, with a Retry-After the client cannot use, then 'hello'.
    headers = {"/soon": "soon", "/negative": "-1"}
    server = http_server([web.get(path, failing(1, retry_after=h)) for path, h in headers.items()])
    rngs = {path: FixedRandom(1.0) for path in headers}
    outcomes = await asyncio.gather(
        *(
            get_with_retry(
                session, server.url + path, attempts=2, base_delay=scaled(BASE), rng=rngs[path]
            )
            for path in headers
        ),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, NotImplementedError):
            raise outcome
    expected = (
        f"Expected: 'hello' after a wait of {scaled(BASE):.2f} s, the client's own backoff "
        "(every draw at its maximum): a Retry-After that is no number of seconds, 0 or more, "
        "tells the client nothing it can use, so it backs off as if there were no header.\n"
        "Try: read the header with float() inside `try: ... except ValueError:`, and use it "
        "only if it is 0 or more; otherwise `rng.uniform(0, base_delay * 2**attempt)`.\n\n"
    )
    for (path, header), outcome in zip(headers.items(), outcomes, strict=True):
        call = f"{retry_call(server.url + path, 2, BASE, rngs[path])}, `Retry-After: {header}`"
        if isinstance(outcome, BaseException):
            fail(
                f"{call}: raised {outcome!r}: the client crashed on a header the server got "
                "wrong, and its caller gets neither the page nor GaveUp.\n"
                + expected
                + timeline.draw()
            )
        measured = waits_seen(server.requests_to(path))
        if outcome == "hello" and not wrong_waits(measured, [BASE]):
            continue
        fail(
            f"{call}: returned {outcome!r} after a wait of {seconds(measured)}"
            + (
                ": it took the negative number for a wait, so it retried at once, as if the "
                "server had asked for that"
                if measured and max(measured) < EARLY * scaled(BASE) and header.startswith("-")
                else ""
            )
            + ".\n"
            + expected
            + timeline.draw()
        )


async def test_a_retry_after_of_0_retries_at_once(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/now", failing(1, retry_after="0"))])
    url, rng = server.url + "/now", FixedRandom(1.0)
    body = await get_with_retry(session, url, attempts=2, base_delay=scaled(BASE), rng=rng)
    measured = waits_seen(server.requests)
    if body == "hello" and not wrong_waits(measured, [0.0]):
        return
    fail(
        f"{retry_call(url, 2, BASE, rng)}: the first answer was a 503 with `Retry-After: 0`, "
        f"then 'hello'. The server saw a wait of {seconds(measured)}; expected none: 0 seconds "
        "is a number of seconds, 0 or more, and the server asked for the retry at once"
        + (
            f". The wait was the client's own backoff ({scaled(BASE):.2f} s, the draw at its "
            "maximum): a Retry-After of 0 was taken for no header (`<= 0` where `< 0` belongs, "
            "or a plain `if retry_after:` test, false for 0)"
            if measured and min(measured) >= EARLY * scaled(BASE)
            else ""
        )
        + ".\nTry: use the header whenever float() reads it as 0 or more.\n\n"
        + timeline.draw()
    )


async def test_a_404_is_final_and_never_retried(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    await expect_final(http_server, session, timeline, 404)


async def test_a_504_is_final_too(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    await expect_final(http_server, session, timeline, 504)


async def test_it_gives_up_after_the_given_number_of_attempts(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/down", failing(1000))])
    url, rng = server.url + "/down", FixedRandom(1.0)
    call, patience = retry_call(url, 3, QUICK, rng), scaled(1.0)
    gave_up: GaveUp | None = None
    returned: object = None
    timed_out = False
    try:
        async with asyncio.timeout(patience):
            returned = await get_with_retry(
                session, url, attempts=3, base_delay=scaled(QUICK), rng=rng
            )
    except GaveUp as error:
        gave_up = error
    except TimeoutError:
        timed_out = True
    sent = len(server.requests)
    if timed_out:
        fail(
            f"{call} was still retrying after {patience:.1f} s and {sent} requests; the server "
            "answers 503 to every one, so expected GaveUp after 3 attempts.\n"
            "Try: loop `for attempt in range(attempts):` and raise GaveUp(url, attempts, status) "
            "after it, not `while True`.\n\n" + timeline.draw()
        )
    if gave_up is None:
        fail(
            f"{call} returned {returned!r} although all 3 attempts were answered 503: a "
            "failure turned into a value nobody will check. Expected: GaveUp.\n"
            "Try: after the last failed attempt `raise GaveUp(url, attempts, status)`."
        )
    if sent != 3:
        fail(
            f"{call} raised GaveUp after the server saw {sent} requests; expected 3: "
            "`attempts` counts every request, the first one included (an off-by-one).\n"
            "Try: `for attempt in range(attempts):`, one request per turn.\n\n" + timeline.draw()
        )
    if (gave_up.url, gave_up.attempts, gave_up.status) != (url, 3, 503):
        fail(
            f"{call} raised {gave_up!r} with url={gave_up.url!r}, attempts={gave_up.attempts!r}, "
            f"status={gave_up.status!r}; expected url={url!r}, attempts=3, status=503: the "
            "error is what the person on call reads, so it must name the facts."
        )


async def test_it_gives_up_as_soon_as_the_last_attempt_fails(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/down", failing(1000))])
    url, rng = server.url + "/down", FixedRandom(1.0)
    call = retry_call(url, 2, BASE, rng)
    try:
        body = await get_with_retry(session, url, attempts=2, base_delay=scaled(BASE), rng=rng)
    except GaveUp:
        lag = timeline.now() - (server.requests[-1].end or 0.0)
    else:
        pytest.fail(f"{call} returned {body!r}; expected GaveUp (every answer is 503).")
    if lag <= scaled(MARGIN):
        return
    fail(
        f"{call} raised GaveUp {lag:.2f} s after the last attempt's 503; expected at once "
        f"(within {scaled(MARGIN) * 1000:.0f} ms): it waited after the last attempt too, for "
        "a retry that never comes.\n"
        "Try: wait only when another attempt follows (`if attempt == attempts - 1: break` "
        "before the sleep).\n\n" + timeline.draw()
    )


async def test_without_an_rng_it_draws_from_a_random_source_of_its_own(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/flaky", failing(2))])
    url = server.url + "/flaky"
    call = f"get_with_retry(session, '/flaky', attempts=4, base_delay={scaled(QUICK):g})"
    drew_from_none: AttributeError | None = None
    try:
        body = await get_with_retry(session, url, attempts=4, base_delay=scaled(QUICK))
    except AttributeError as error:
        if "NoneType" not in str(error):
            raise
        drew_from_none = error
    if drew_from_none is not None:
        fail(
            f"{call}, with no rng, raised AttributeError({drew_from_none}): it drew from rng "
            "although rng was None, its default.\n"
            "Expected: 'hello' after two waits, the jitter drawn from a random source of its "
            "own.\n"
            "Try: `if rng is None: rng = random.Random()` before the loop."
        )
    if body != "hello" or len(server.requests) != 3:
        fail(
            f"{call}, with no rng, returned {body!r} after {len(server.requests)} requests; "
            "expected 'hello' after 3 (the server answers 503 twice).\n\n" + timeline.draw()
        )


async def test_the_connection_is_free_while_it_waits(
    http_server: StartServer, timeline: Timeline
) -> None:
    # The 503 carries a long error page (2 MB) that nobody reads: a response left open keeps
    # its connection until it is released. The session's pool has ONE connection, so a second
    # request through it, sent during the wait, shows whether that connection is free.
    loop = asyncio.get_running_loop()
    answered = asyncio.Event()
    handler = failing(
        1,
        retry_after=RETRY_AFTER,
        body=b"<p>busy</p>" * 200_000,
        answered=lambda: loop.call_soon_threadsafe(answered.set),
    )
    server = http_server([web.get("/busy", handler), web.get("/ping", pong)])
    url, rng = server.url + "/busy", FixedRandom(0.5)
    call = retry_call(url, 3, QUICK, rng)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        retrying = asyncio.create_task(
            get_with_retry(session, url, attempts=3, base_delay=scaled(QUICK), rng=rng)
        )
        first_503 = asyncio.create_task(answered.wait())
        await asyncio.wait({retrying, first_503}, return_when=asyncio.FIRST_COMPLETED)
        first_503.cancel()
        if not retrying.done():
            async with session.get(server.url + "/ping") as response:
                await response.read()
        body = await retrying
    first, pings = server.requests_to("/busy")[0], server.requests_to("/ping")
    waited = pings[0].start - (first.end or first.start) if pings else 0.0
    if body == "hello" and waited <= scaled(MARGIN):
        return
    fail(
        f"{call} through a session whose pool has ONE connection: the first answer was a 503 "
        f"with `Retry-After: {scaled(RETRY_AFTER):g}` and a long body. A second request through "
        f"the same session, sent as the 503 went out, waited {waited:.2f} s for the connection; "
        f"expected at once (within {scaled(MARGIN) * 1000:.0f} ms): the response of the 503 "
        "still held the connection while the code waited to retry.\n"
        "Expected: the response released before the wait, so its connection serves other "
        "requests meanwhile.\n"
        "Try: keep only the status and the header inside `async with session.get(url) as "
        "response:`, and `await asyncio.sleep(...)` after that block.\n\n" + timeline.draw()
    )


async def test_a_call_cancelled_while_it_waits_ends_cancelled(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/down", failing(1000))])
    url, rng = server.url + "/down", FixedRandom(1.0)
    call = retry_call(url, 3, 2 * BASE, rng)
    # The first wait is 0.2 s: the call is cancelled in the middle of it.
    await cancel_midway(
        get_with_retry(session, url, attempts=3, base_delay=scaled(2 * BASE), rng=rng),
        after=BASE,
        what=call,
        timeline=timeline,
    )
    if len(server.requests) > 1:
        fail(
            f"{call} was cancelled during its first wait and ended cancelled, but the server "
            f"saw {len(server.requests)} requests: it sent more after the cancellation.\n"
            "Try: let the CancelledError of the sleep go on up; clean up in `finally:` "
            "without a request.\n\n" + timeline.draw()
        )


class FixedRandom(random.Random):
    """A random source whose draws the test picks: random() (and so uniform()) and a count."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return self.value

    def __repr__(self) -> str:
        return f"FixedRandom({self.value})"


class ModuleRandom:
    """Counts the draws get_with_retry's module makes from the random module, each at 0.3.

    random.uniform and `from random import uniform` both draw through the module's hidden
    Random instance; other callers (the harness's stress mode) still get real draws.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.draws = 0
        self._real = random.random
        monkeypatch.setattr(random, "random", self.random)
        monkeypatch.setattr(random._inst, "random", self.random)  # type: ignore[attr-defined]

    def random(self) -> float:
        # The caller, or the caller of random.uniform (a comprehension would add a frame).
        callers = [sys._getframe(1).f_globals["__name__"], sys._getframe(2).f_globals["__name__"]]
        if get_with_retry.__module__ not in callers:
            return self._real()
        self.draws += 1
        return 0.3


def failing(
    times: int,
    *,
    retry_after: float | str | None = None,
    body: bytes = b"busy, try later",
    answered: Callable[[], object] = lambda: None,
) -> Handler:
    """A handler answering 503 to its first `times` requests, then 200 'hello'.

    `retry_after` seconds (scaled) go out in a Retry-After header; a str goes out as it is.
    `answered` is called (in the server's thread) each time a 503 goes out.
    """
    seen = 0
    header = retry_after if isinstance(retry_after, str) else f"{scaled(retry_after or 0):g}"
    headers = {"Retry-After": header} if retry_after is not None else {}

    async def handle(request: web.Request) -> web.Response:
        nonlocal seen
        seen += 1
        if seen <= times:
            answered()
            return web.Response(status=503, body=body, headers=headers)
        return web.Response(text="hello")

    return handle


async def pong(request: web.Request) -> web.Response:
    return web.Response(text="pong")


async def expect_final(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline, status: int
) -> None:
    """An error status other than 503 is raised after 1 request, never retried."""
    __tracebackhide__ = True
    server = http_server([web.get("/missing", answering(status))])
    url, rng = server.url + "/missing", FixedRandom(1.0)
    call = retry_call(url, 3, QUICK, rng)
    try:
        body = await get_with_retry(session, url, attempts=3, base_delay=scaled(QUICK), rng=rng)
    except aiohttp.ClientResponseError as error:
        outcome, raised = f"raised ClientResponseError({error.status})", error.status
    except GaveUp as error:
        outcome, raised = f"raised {error!r}", None
    else:
        outcome, raised = f"returned {body!r}", None
    sent = len(server.requests)
    if raised == status and sent == 1:
        return
    retried = (
        f"It retried a {status}: the server saw {sent} requests. Only a 503 (the server is busy "
        "for now) is worth asking again; any other error status is final.\n"
        + (
            "Likely mistake: a test on a range of statuses (`>= 503`, `>= 500`) where "
            "`== 503` belongs.\n"
            if status > 503
            else ""
        )
        if sent > 1
        else ""
    )
    fail(
        f"{call} {outcome}; the server answered {status}. Expected: "
        f"aiohttp.ClientResponseError with status {status} after 1 request.\n"
        f"{retried}Try: retry only when `response.status == 503`; for anything else call "
        "`response.raise_for_status()` (it raises ClientResponseError for 4xx and 5xx) and "
        "return the text.\n\n" + timeline.draw()
    )


def answering(status: int) -> Handler:
    """A handler answering `status` to every request."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, text=f"status {status}")

    return answer


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def retry_call(url: str, attempts: int, base: float, rng: random.Random) -> str:
    path = "/" + url.split("/", 3)[-1]
    return (
        f"get_with_retry(session, '{path}', attempts={attempts}, "
        f"base_delay={scaled(base):g}, rng={rng!r})"
    )


def waits_seen(requests: list[Request]) -> list[float]:
    """The server's view of each wait: from one answer to the next request."""
    return [b.start - (a.end or a.start) for a, b in pairwise(requests)]


def seconds(values: Iterable[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) + " s"


def wrong_waits(measured: list[float], expected: list[float]) -> bool:
    if len(measured) != len(expected):
        return True
    return any(
        not EARLY * scaled(e) <= m <= scaled(e) + scaled(MARGIN)
        for m, e in zip(measured, expected, strict=True)
    )
