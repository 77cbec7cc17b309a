from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, Awaitable
from typing import Any, TypeVar

import pagination
import pytest
from harness import Timeline, cancel_midway, fail
from pagination import Page

T = TypeVar("T")

PAGE_DELAY = 0.1  # seconds per fetch_page()
PAGES = {  # cursor -> page; the first page has cursor None, the last next_cursor None
    None: Page(["item 1", "item 2", "item 3"], "c2"),
    "c2": Page(["item 4", "item 5", "item 6"], "c3"),
    "c3": Page(["item 7"], None),
}
ITEMS = [item for page in PAGES.values() for item in page.items]
PAGE_OF = {item: number for number, page in enumerate(PAGES.values(), 1) for item in page.items}
ACLOSING = "async with contextlib.aclosing(iter_items(api)) as items:"
TRY_FINALLY = (
    "session = await api.open_session(), then the page loop inside `try:` and "
    "`await session.close()` in its `finally:`"
)
STREAM_TEST = "test_each_page_is_fetched_only_when_the_consumer_needs_its_first_item"


async def test_the_stream_yields_every_item_of_every_page_in_order(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    got = [item async for item in await stream(api)]
    if got != ITEMS:
        fail(
            f"[item async for item in iter_items(api)] gave {got}, expected {ITEMS}: the items "
            "of page 1 (cursor None), then of page 2 (its cursor is page 1's next_cursor), and "
            f"so on until a page whose next_cursor is None.\n\n{timeline.draw()}"
        )
    if api.fetched != [1, 2, 3]:
        fail(
            f"iter_items(api) fetched pages {api.fetched}, expected [1, 2, 3]: each page once, "
            f"in order.\n\n{timeline.draw()}"
        )
    closes = [s.closes for s in api.sessions]
    if closes != [1]:
        fail(
            f"iter_items(api) opened {len(closes)} session(s), closed {closes} time(s) after "
            "its last item, expected one session closed once: a session left open leaks a "
            f"connection, one closed twice may fail.\nTry: {TRY_FINALLY}.\n\n{timeline.draw()}"
        )


async def test_each_page_is_fetched_only_when_the_consumer_needs_its_first_item(
    timeline: Timeline,
) -> None:
    api = FakeApi(timeline)
    arrivals: list[tuple[str, list[int]]] = []  # each item, and the pages fetched by then
    async for item in await stream(api):
        timeline.mark(f"consumer got {item}")
        arrivals.append((item, list(api.fetched)))
    for item, fetched in arrivals:
        if len(fetched) <= PAGE_OF.get(item, len(PAGES)):
            continue
        if len(fetched) == len(PAGES) and item == ITEMS[0]:
            what = (
                f"had already fetched every page: it fetched every page up front, then "
                f"yielded from the whole list. The first item waited for {len(PAGES)} pages "
                "instead of one, a consumer that stops early pays for pages it never reads, and "
                "a feed of 10,000 pages never yields at all."
            )
        else:
            early = fetched[PAGE_OF[item]]
            first = PAGES[list(PAGES)[early - 1]].items[0]
            what = (
                f"had already fetched page {early}: it fetched page {early} before the consumer "
                f"asked for {first}, its first item. A consumer that stops at {item} has paid "
                "for a page it never reads."
            )
        fail(
            f"When the consumer got {item}, iter_items(api) {what}\n"
            f"Expected: page 1 fetched, its items yielded one by one; page 2 fetched only "
            f"when the consumer asks for {PAGES['c2'].items[0]}, and so on.\n"
            "Try: in one loop, fetch a page, `yield` each of its items, and only then fetch "
            f"page.next_cursor.\n\n{timeline.draw()}"
        )


async def test_closing_the_stream_early_closes_its_session(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    items = await stream(api)
    got = [await anext(items), await anext(items)]
    await items.aclose()
    timeline.mark("consumer closed the stream")
    expect_items("the stream's first two items", got, ITEMS[:2], timeline)
    if api.sessions and not api.still_open():
        return
    whole = FakeApi(timeline)  # read to its end: is the session closed then?
    _ = [item async for item in await stream(whole)]
    seen = (
        "Read to its end, the stream does close its session, so the close comes after the "
        "page loop: when a generator is closed early, Python raises GeneratorExit at the "
        "`yield` where it is paused, and an `await session.close()` after the page loop never "
        "runs."
        if whole.sessions and not whole.still_open()
        else "The stream does not close its session even when read to its end."
    )
    fail(
        "The consumer took 2 items, then closed the stream with `await items.aclose()` (what "
        "`async with contextlib.aclosing(...)` does when its block ends), and the session was "
        f"still open afterwards.\n{seen}\n"
        "Expected: the session closed as the generator is closed.\n"
        f"Try: {TRY_FINALLY}: `finally` runs on every way out.\n\n{timeline.draw()}"
    )


async def test_first_n_returns_the_first_items_from_only_the_pages_they_are_on(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FakeApi(timeline)
    pulls = count_pulls(monkeypatch)
    got = await call("first_n(api, 5)", pagination.first_n(api, 5))
    expect_items("first_n(api, 5)", got, ITEMS[:5], timeline)
    expect_pages("first_n(api, 5)", api, 5, pulls)
    await expect_closed_on_return(
        "first_n(api, 5)", api, "a `break` out of `async for`", held=pulls
    )


async def test_first_n_stopping_at_the_end_of_a_page_fetches_no_further_page(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FakeApi(timeline)
    pulls = count_pulls(monkeypatch)
    got = await call("first_n(api, 3)", pagination.first_n(api, 3))
    expect_items("first_n(api, 3)", got, ITEMS[:3], timeline)
    expect_pages("first_n(api, 3)", api, 3, pulls)
    await expect_closed_on_return(
        "first_n(api, 3)", api, "a `break` out of `async for`", held=pulls
    )


async def test_first_n_closes_the_session_before_it_returns(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    got = await call("first_n(api, 2)", pagination.first_n(api, 2))
    timeline.mark("first_n returned")
    await expect_closed_on_return("first_n(api, 2)", api, "a `break` out of `async for`")
    expect_items("first_n(api, 2)", got, ITEMS[:2], timeline)


async def test_first_n_of_more_items_than_there_are_returns_them_all(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    got = await call("first_n(api, 10)", pagination.first_n(api, 10))
    expect_items("first_n(api, 10) (there are 7)", got, ITEMS, timeline)
    await expect_closed_on_return("first_n(api, 10)", api, "leaving `async for` early")


async def test_first_n_of_zero_items_fetches_no_page(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    got = await call("first_n(api, 0)", pagination.first_n(api, 0))
    if got == [] and not api.fetched and not api.still_open():
        return
    if got == ITEMS:
        seen = (
            f"It returned all {len(got)} items, fetching pages {api.fetched}: it took an item "
            "before it compared the count with n, and after that first item the count was "
            "already 1, past 0, so `len(found) == n` never matched and nothing stopped it."
        )
    elif api.fetched and got:
        seen = (
            f"It returned {got!r}, fetching pages {api.fetched}: it took an item before it "
            "compared the count with n."
        )
    elif api.fetched:
        seen = (
            f"It returned {got!r}, but fetched pages {api.fetched} first: it asked the stream "
            "for an item before it knew that none was wanted."
        )
    elif got:
        seen = f"It returned {got!r}."
    else:
        seen = "It returned [], but left the stream's session open."
    fail(
        f"first_n(api, 0) asks for no item at all. {seen}\n"
        "Expected: [] at once, with no page fetched and no session left open.\n"
        "Try: `if n < 1: return []` before you open the stream: there is nothing to read.\n\n"
        + timeline.draw()
    )


async def test_first_n_of_one_item_fetches_only_the_first_page(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FakeApi(timeline)
    pulls = count_pulls(monkeypatch)
    got = await call("first_n(api, 1)", pagination.first_n(api, 1))
    if got == [] and not api.fetched:
        fail(
            f"first_n(api, 1) returned [] without fetching a page: one item was asked for, "
            f"none came back. Expected: [{ITEMS[0]!r}], from page 1 alone.\n"
            "Likely mistake: the guard for n = 0 stops n = 1 too (`n <= 1` where `n < 1` "
            "belongs).\nTry: `if n < 1: return []`, then read items until you have n."
        )
    expect_items("first_n(api, 1)", got, ITEMS[:1], timeline)
    expect_pages("first_n(api, 1)", api, 1, pulls)
    await expect_closed_on_return(
        "first_n(api, 1)", api, "a `break` out of `async for`", held=pulls
    )


async def test_collect_matching_returns_the_matching_items_in_order(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    odd = [item for item in ITEMS if int(item[-1]) % 2]
    call_text = "collect_matching(api, is_odd)"
    got: object = await call(call_text, pagination.collect_matching(api, lambda i: i in odd))
    if inspect.isasyncgen(got):
        fail(
            f"{call_text} returned {got!r}, not a list: `(item async for item in items ...)` "
            "in parentheses is an async generator expression. Nothing has run yet (no page "
            "was fetched), and the caller cannot use it as a list.\n"
            "Try: square brackets, `[item async for item in items if predicate(item)]`: an "
            "async comprehension, which runs the stream to its end and builds the list."
        )
    expect_items(call_text, got, odd, timeline)
    expect_pages(call_text, api, len(ITEMS))
    await expect_closed_on_return(call_text, api, "returning before the stream ended")


class Unjudgeable(Exception):
    """The predicate cannot judge this item."""


def judge(item: str) -> bool:
    if item == "item 2":
        raise Unjudgeable(f"cannot judge {item}")
    return True


async def test_collect_matching_closes_the_session_when_the_predicate_raises(
    timeline: Timeline,
) -> None:
    api = FakeApi(timeline)
    call_text = "collect_matching(api, predicate raising on item 2)"
    try:
        got: object = await call(call_text, pagination.collect_matching(api, judge))
    except Unjudgeable:
        got = Unjudgeable
    if got is not Unjudgeable:
        fail(
            f"{call_text} returned {got!r}, expected the predicate's Unjudgeable error to reach "
            "the caller: do not catch it, let it go up."
            + (
                " (An async generator expression runs nothing until it is read: see "
                "test_collect_matching_returns_the_matching_items_in_order.)"
                if inspect.isasyncgen(got)
                else ""
            )
        )
    await expect_closed_on_return(
        call_text, api, "an error leaving an async comprehension (just like a `break`)"
    )


async def test_a_failing_fetch_reaches_the_consumer_and_closes_the_session(
    timeline: Timeline,
) -> None:
    api = FakeApi(timeline, failing=2)
    got: list[str] = []
    try:
        async for item in await stream(api):
            got.append(item)
    except PageError:
        pass
    else:
        fail(
            f"Page 2 failed (fetch_page raised PageError), and `async for` over iter_items(api) "
            f"ended quietly after {got}: the consumer cannot tell a failed feed from a short "
            "one.\nExpected: the PageError raised out of `async for`, to the consumer.\n"
            "Try: let the error go up: `try:`/`finally:` around the page loop closes the "
            f"session without catching anything.\n\n{timeline.draw()}"
        )
    if api.sessions and not api.still_open():
        return
    fail(
        "Page 2 failed (fetch_page raised PageError): the error reached the consumer, but the "
        "session was still open afterwards.\nExpected: the session closed however the stream "
        f"ends, an error too.\nTry: {TRY_FINALLY}.\n\n{timeline.draw()}"
    )


async def test_first_n_cancelled_mid_fetch_closes_the_session(timeline: Timeline) -> None:
    await pagination.first_n(FakeApi(timeline), 1)  # one that works first (not the stub)
    api = FakeApi(timeline)
    await cancel_midway(
        pagination.first_n(api, 5), after=PAGE_DELAY / 2, what="first_n(api, 5)", timeline=timeline
    )
    if api.sessions and not api.still_open():
        return
    failing = FakeApi(timeline, failing=1)
    with contextlib.suppress(PageError):
        await pagination.first_n(failing, 5)
    seen = (
        "The same stream closes its session when a fetch raises an error: the close runs "
        "for an exception but not for a cancellation. CancelledError is not an Exception (it "
        "is a BaseException), so a close in `except Exception:` never runs for it."
        if failing.sessions and not failing.still_open()
        else "It stays open when a fetch raises an error, too."
    )
    fail(
        f"first_n(api, 5) was cancelled while it fetched page 1 (a timeout, a client gone), "
        f"and the session was still open after the cancellation.\n{seen}\n"
        "Expected: the session closed however the stream ends, a cancellation too.\n"
        f"Try: {TRY_FINALLY}; `finally` runs for a cancellation as well.\n\n{timeline.draw()}"
    )


class PageError(Exception):
    """The API failed to serve a page."""


class FakeSession:
    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.closes = 0

    async def fetch_page(self, cursor: str | None) -> Page:
        if self.closes:
            raise RuntimeError(
                f"fetch_page({cursor!r}) on a session that was already closed: close the session "
                "only once no page is needed any more (in the generator's `finally:`)."
            )
        if cursor not in PAGES:
            raise LookupError(
                f"fetch_page({cursor!r}): no page has that cursor. Ask for the first page with "
                "None, then for page.next_cursor of the page you have."
            )
        number = list(PAGES).index(cursor) + 1
        self.api.fetched.append(number)
        error = PageError(f"page {number} failed") if number == self.api.failing else None
        page: Page = await self.api.timeline.work(
            f"fetch_page({cursor!r}) page {number}", PAGE_DELAY, PAGES[cursor], error=error
        )
        return page

    async def close(self) -> None:
        await asyncio.sleep(0)  # closing awaits (a goodbye to the server)
        self.api.timeline.mark("session.close()")
        self.closes += 1


class FakeApi:
    """Three pages of items (3, 3 and 1), on the timeline; it records every fetch and close."""

    def __init__(self, timeline: Timeline, failing: int = 0) -> None:
        self.timeline = timeline
        self.failing = failing  # the number of a page whose fetch raises PageError (0: none)
        self.sessions: list[FakeSession] = []
        self.fetched: list[int] = []  # page numbers, in the order their fetch started

    async def open_session(self) -> FakeSession:
        await asyncio.sleep(0)
        self.timeline.mark("api.open_session()")
        self.sessions.append(FakeSession(self))
        return self.sessions[-1]

    def still_open(self) -> list[FakeSession]:
        return [s for s in self.sessions if not s.closes]


class Pulls:
    """iter_items(api) as first_n sees it, counting the items first_n asks it for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pulled = 0

    def __aiter__(self) -> Pulls:
        return self

    async def __anext__(self) -> str:
        item: str = await self.inner.__anext__()
        self.pulled += 1
        return item

    async def aclose(self) -> None:
        await self.inner.aclose()


def count_pulls(monkeypatch: pytest.MonkeyPatch) -> list[Pulls]:
    """Let every iter_items(api) that first_n makes count the items it hands out."""
    made: list[Pulls] = []
    original = pagination.iter_items

    def iter_items(api: Any) -> Any:
        items = original(api)
        if not hasattr(items, "__anext__"):
            return items
        made.append(Pulls(items))
        return made[-1]

    monkeypatch.setattr(pagination, "iter_items", iter_items)
    return made


async def stream(api: FakeApi) -> AsyncGenerator[str, None]:
    """iter_items(api), once it is known to be an async iterator that `async for` can read."""
    items: Any = pagination.iter_items(api)
    if hasattr(items, "__anext__"):
        generator: AsyncGenerator[str, None] = items
        return generator
    kind = type(items).__name__
    if inspect.isawaitable(items):
        got = await items  # the untouched stub raises its NotImplementedError here
        kind = f"coroutine (awaited, it gives a {type(got).__name__})"
    fail(
        f"iter_items(api) returned a {kind}, not an async iterator, so "
        "`async for item in iter_items(api)` raises TypeError: 'async for' requires an object "
        "with __aiter__ method, got coroutine.\n"
        "An `async def` that collects the items and `return`s them is a coroutine function: "
        "its caller awaits it once and gets everything at the end, after every page.\n"
        "Expected: an async generator, which `async for` pulls from one item at a time.\n"
        "Try: `yield item` for each item of a page instead of appending it to a list: an "
        "`async def` with a `yield` in it is an async generator."
    )


async def call(what: str, work: Awaitable[T]) -> T:
    """Await the function under test; explain a plain `for` over the async generator."""
    try:
        return await work
    except TypeError as error:
        if "async_generator" not in str(error) or "not iterable" not in str(error):
            raise
        message = str(error)
    fail(
        f"{what} raised TypeError: {message}.\n"
        "A plain `for` loop (or a `[... for ...]` comprehension) cannot read an async "
        "generator: each item has to be awaited, since getting it may mean fetching a page.\n"
        "Try: `async for item in items:`, or the async comprehension "
        "`[item async for item in items if predicate(item)]`."
    )


async def closed_later(api: FakeApi) -> bool:
    """Give the loop a few turns: an abandoned generator may get closed by the loop then."""
    for _ in range(20):
        if not api.still_open():
            return True
        await asyncio.sleep(0)
    return not api.still_open()


async def expect_closed_on_return(
    call: str, api: FakeApi, how: str, held: list[Pulls] | None = None
) -> None:
    """The session is closed already, as `call` returns (or raises).

    `held`: the generators `call` used, which the test keeps (count_pulls), so no collector
    closes them: one still paused at its `yield` was left there by `call`.
    """
    __tracebackhide__ = True
    if api.sessions and not api.still_open():
        return
    if not api.sessions:
        fail(f"{call} never opened a session: call api.open_session().")
    fix = (
        f"`{ACLOSING}` around the `async for`: leaving that block awaits items.aclose(), which "
        "raises GeneratorExit at the paused `yield`, so the generator's `finally` runs there "
        "and then."
    )
    paused = [p for p in held or [] if p.pulled and getattr(p.inner, "ag_frame", None)]
    if paused:
        what = (
            f"was never closed: {call} took its items and left the generator paused at its "
            "`yield` (this test still holds it, so not even the garbage collector finalises "
            f"it). Likely mistake: {how} leaves the generator paused at its `yield`; "
            "its `finally` runs only once the generator is garbage-collected (at once in "
            "CPython when nothing refers to it any more, much later on other Pythons, never if "
            "the loop is closed first)."
        )
    elif await closed_later(api):
        what = (
            "was closed only afterwards, when the event loop finalised the generator that "
            f"{call} had abandoned. Likely mistake: {how} leaves the generator paused at its "
            "`yield`; its `finally` runs only once the generator is garbage-collected (at once "
            "in CPython when nothing refers to it any more, much later on other Pythons, never "
            "if the loop is closed first)."
        )
    else:
        what = (
            "was never closed. Either iter_items has no `finally:` that closes it (see "
            "test_closing_the_stream_early_closes_its_session), or the generator was "
            "abandoned without being closed."
        )
        fix = f"{TRY_FINALLY} in iter_items; and {fix}"
    fail(
        f"When {call} ended, the session of iter_items(api) was still open; it {what}\n"
        "Expected: the session closed before the call returns (its caller may open the next "
        "session, or close the event loop, right away).\n"
        f"Try: {fix}\n\n{api.timeline.draw()}"
    )


def expect_items(call: str, got: object, expected: list[str], timeline: Timeline) -> None:
    __tracebackhide__ = True
    if got != expected:
        fail(f"{call} returned {got!r}, expected {expected}.\n\n{timeline.draw()}")


def expect_pages(call: str, api: FakeApi, n: int, pulls: list[Pulls] | None = None) -> None:
    """`call`, which needs the first n items, fetched exactly the pages they are on.

    With `pulls` (first_n's streams, counted), the message tells first_n asking for too many
    items from iter_items fetching too far."""
    __tracebackhide__ = True
    last = PAGE_OF[ITEMS[n - 1]]
    needed = list(range(1, last + 1))
    if api.fetched == needed:
        return
    fetched = api.fetched
    pulled = pulls[0].pulled if pulls else None
    asked = f" It asked the stream for {pulled} item(s)." if pulled is not None else ""
    if pulled is not None and pulled > n:
        if pulled == len(ITEMS):
            mistake = (
                "Likely mistake: it read the whole stream, then kept the first items: an async "
                "comprehension (like any comprehension) cannot stop early, and a slice of its "
                "list comes after every page has been fetched.\n"
                f"Try: `{ACLOSING}`, then `async for item in items:` that appends and `break`s "
                "once it has n items."
            )
        else:
            mistake = (
                f"Likely mistake: it asked the stream for one item too many before it stopped: "
                f"checking the count only once the next item has arrived (at the top of the "
                f"loop) means pulling that item, and the stream fetches page {last + 1} to "
                "give it.\nTry: `found.append(item)`, then `if len(found) == n: break`."
            )
    elif pulled is not None:
        mistake = (
            f"first_n stopped right, so iter_items fetched pages it was not asked for: see "
            f"{STREAM_TEST}."
        )
    else:
        mistake = (
            "Try: fetch each page once, in order, and only while items are still needed (see "
            f"also {STREAM_TEST})."
        )
    fail(
        f"{call} fetched pages {fetched}, expected {needed}: those pages hold the items it "
        f"returns, so any other fetch is wasted.{asked}\n{mistake}\n\n{api.timeline.draw()}"
    )
