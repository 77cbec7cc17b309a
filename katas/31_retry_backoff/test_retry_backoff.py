import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from itertools import pairwise

import aiohttp
import pytest
from aiohttp import web
from harness import EARLY, MARGIN, Timeline, scaled
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


def failing(times: int, *, retry_after: float | None = None) -> Handler:
    """A handler answering 503 to its first `times` requests, then 200 'hello'."""
    seen = 0
    headers = {"Retry-After": f"{scaled(retry_after):g}"} if retry_after is not None else {}

    async def handle(request: web.Request) -> web.Response:
        nonlocal seen
        seen += 1
        if seen <= times:
            return web.Response(status=503, text="busy, try later", headers=headers)
        return web.Response(text="hello")

    return handle


async def not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="no such thing")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def call_text(url: str, attempts: int, base: float, rng: random.Random) -> str:
    path = "/" + url.split("/", 3)[-1]
    return (
        f"get_with_retry(session, '{path}', attempts={attempts}, "
        f"base_delay={scaled(base):g}, rng={rng!r})"
    )


def waits(requests: list[Request]) -> list[float]:
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
    pytest.fail(
        f"{call_text(url, 4, QUICK, rng)} returned {body!r}; the server answers 503 twice, then "
        f"200 'hello', so expected 'hello' after 3 requests: {mistake}\n\n{timeline.draw()}",
        pytrace=False,
    )


async def test_each_wait_doubles_the_one_before(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/flaky", failing(3))])
    url, rng = server.url + "/flaky", FixedRandom(1.0)
    body = await get_with_retry(session, url, attempts=4, base_delay=scaled(BASE), rng=rng)
    expected = [BASE, 2 * BASE, 4 * BASE]
    measured = waits(server.requests)
    if body == "hello" and not wrong_waits(measured, expected):
        return
    if len(measured) != len(expected):
        verdict = f"the server saw {len(server.requests)} requests; expected 4 (3 x 503, then 200)."
    elif max(measured) < scaled(BASE) / 2:
        verdict = "it retried at once: it did not wait between the attempts at all."
    elif max(measured) - min(measured) < scaled(MARGIN):
        verdict = (
            "every wait was the same: a constant delay. Each wait must double the one before, "
            "or a struggling server is hit just as hard for as long as it is down."
        )
    else:
        verdict = "the waits did not double one after another (base_delay * 2**i)."
    pytest.fail(
        f"{call_text(url, 4, BASE, rng)} (503, 503, 503, then 200; every draw at its maximum, "
        f"so every wait its full backoff): the server saw waits of {seconds(measured)}, "
        f"expected {seconds(scaled(e) for e in expected)} (each within {MARGIN * 1000:.0f} ms): "
        f"{verdict}\n{BACKOFF}\n\n{timeline.draw()}",
        pytrace=False,
    )


async def test_clients_that_fail_together_retry_at_different_moments(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    draws = {"/a": 0.25, "/b": 0.5, "/c": 1.0}
    base = 2 * BASE
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
    measured = {path: waits(server.requests_to(path)) for path in draws}
    calls = "\n".join(
        f"  {call_text(server.url + path, 3, base, rng)}: waits of {seconds(measured[path])}, "
        f"expected {seconds(scaled(e) for e in expected[path])}"
        for path, rng in rngs.items()
    )
    story = (
        "Three clients, each answered 503 twice, at the same moment (a server restart does "
        f"that), each with its own random source:\n{calls}\n"
    )
    if not any(rng.draws for rng in rngs.values()):
        pytest.fail(
            f"{story}None of them ever drew from the random source it was given (rng): its "
            "waits had no jitter, so clients that failed together retry together and knock "
            "the server over again; or they came from another random source, which the test "
            "cannot check (the module's random.uniform instead of rng.uniform?).\n"
            f"{BACKOFF}\n\n{timeline.draw()}",
            pytrace=False,
        )
    if any(wrong_waits(measured[path], expected[path]) for path in draws):
        pytest.fail(
            f"{story}Expected each wait to be rng.uniform(0, base_delay * 2**i): the draw "
            "picks where in the window the client retries, so the three spread out.\n"
            f"{BACKOFF}\n\n{timeline.draw()}",
            pytrace=False,
        )


async def test_a_retry_after_header_sets_the_wait(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/busy", failing(1, retry_after=RETRY_AFTER))])
    url, rng = server.url + "/busy", FixedRandom(0.5)
    body = await get_with_retry(session, url, attempts=3, base_delay=scaled(QUICK), rng=rng)
    measured = waits(server.requests)
    if body == "hello" and not wrong_waits(measured, [RETRY_AFTER]):
        return
    own = 0.5 * QUICK
    pytest.fail(
        f"{call_text(url, 3, QUICK, rng)}: the first answer was a 503 with "
        f"`Retry-After: {scaled(RETRY_AFTER):g}`, then 'hello'. The server saw waits of "
        f"{seconds(measured)}; expected {seconds([scaled(RETRY_AFTER)])}: the server said when it "
        f"will be ready, so wait exactly that long instead of your own backoff "
        f"({scaled(own):.3f} s here), and without jitter on it (retrying early is ignoring it).\n"
        "Try: `retry_after = response.headers.get('Retry-After')`; if it is there, "
        "`await asyncio.sleep(float(retry_after))`, else your backoff.\n\n" + timeline.draw(),
        pytrace=False,
    )


async def test_a_404_is_final_and_never_retried(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/missing", not_found)])
    url, rng = server.url + "/missing", FixedRandom(1.0)
    call = call_text(url, 3, QUICK, rng)
    try:
        body = await get_with_retry(session, url, attempts=3, base_delay=scaled(QUICK), rng=rng)
    except aiohttp.ClientResponseError as error:
        outcome, status = f"raised ClientResponseError({error.status})", error.status
    except GaveUp as error:
        outcome, status = f"raised {error!r}", None
    else:
        outcome, status = f"returned {body!r}", None
    sent = len(server.requests)
    if status == 404 and sent == 1:
        return
    retried = (
        f"It retried a 404: the server saw {sent} requests. A missing page stays missing; only "
        "a 503 (the server is busy for now) is worth asking again.\n"
        if sent > 1
        else ""
    )
    pytest.fail(
        f"{call} {outcome}; the server answered 404 Not Found. Expected: "
        "aiohttp.ClientResponseError with status 404 after 1 request.\n"
        f"{retried}Try: retry only when `response.status == 503`; for anything else call "
        "`response.raise_for_status()` (it raises ClientResponseError for 4xx and 5xx) and "
        "return the text.\n\n" + timeline.draw(),
        pytrace=False,
    )


async def test_it_gives_up_after_the_given_number_of_attempts(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/down", failing(1000))])
    url, rng = server.url + "/down", FixedRandom(1.0)
    call, patience = call_text(url, 3, QUICK, rng), scaled(1.0)
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
        pytest.fail(
            f"{call} was still retrying after {patience:.1f} s and {sent} requests; the server "
            "answers 503 to every one, so expected GaveUp after 3 attempts.\n"
            "Try: loop `for attempt in range(attempts):` and raise GaveUp(url, attempts, status) "
            "after it, not `while True`.\n\n" + timeline.draw(),
            pytrace=False,
        )
    if gave_up is None:
        pytest.fail(
            f"{call} returned {returned!r} although all 3 attempts were answered 503: a "
            "failure turned into a value nobody will check. Expected: GaveUp.\n"
            "Try: after the last failed attempt `raise GaveUp(url, attempts, status)`.",
            pytrace=False,
        )
    if sent != 3:
        pytest.fail(
            f"{call} raised GaveUp after the server saw {sent} requests; expected 3: "
            "`attempts` counts every request, the first one included (an off-by-one).\n"
            "Try: `for attempt in range(attempts):`, one request per turn.\n\n" + timeline.draw(),
            pytrace=False,
        )
    if (gave_up.url, gave_up.attempts, gave_up.status) != (url, 3, 503):
        pytest.fail(
            f"{call} raised {gave_up!r} with url={gave_up.url!r}, attempts={gave_up.attempts!r}, "
            f"status={gave_up.status!r}; expected url={url!r}, attempts=3, status=503: the "
            "error is what the person on call reads, so it must name the facts.",
            pytrace=False,
        )


async def test_it_gives_up_as_soon_as_the_last_attempt_fails(
    http_server: StartServer, session: aiohttp.ClientSession, timeline: Timeline
) -> None:
    server = http_server([web.get("/down", failing(1000))])
    url, rng = server.url + "/down", FixedRandom(1.0)
    call = call_text(url, 2, BASE, rng)
    try:
        body = await get_with_retry(session, url, attempts=2, base_delay=scaled(BASE), rng=rng)
    except GaveUp:
        lag = timeline.now() - (server.requests[-1].end or 0.0)
    else:
        pytest.fail(f"{call} returned {body!r}; expected GaveUp (every answer is 503).")
    if lag <= scaled(MARGIN):
        return
    pytest.fail(
        f"{call} raised GaveUp {lag:.2f} s after the last attempt's 503; expected at once "
        f"(within {scaled(MARGIN) * 1000:.0f} ms): it waited after the last attempt too, for "
        "a retry that never comes.\n"
        "Try: wait only when another attempt follows (`if attempt == attempts - 1: break` "
        "before the sleep).\n\n" + timeline.draw(),
        pytrace=False,
    )
