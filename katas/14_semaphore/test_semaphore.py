from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

import pytest
import semaphore
from harness import MARGIN, Span, Timeline, cancel_midway, fail, scaled, swap_in

# Six fetches of 0.1 s, two at a time: three rounds, 0.3 s (one after another: 0.6 s).
EQUAL = dict.fromkeys("abcdef", 0.1)
# Three at a time, 'a' the slow one: b, c, d and e fit into the other two slots while 'a' runs,
# so all is done in 0.4 s. Batches of three wait for their slowest: [a b c] 0.4 + [d e] 0.2 s.
UNEQUAL = {"a": 0.4, "b": 0.2, "c": 0.1, "d": 0.2, "e": 0.1}
# 'a' listed twice: two entries, two fetches, two pages.
TWICE = ["a", "a", "b"]


async def test_the_pages_come_back_in_the_order_of_the_items(timeline: Timeline) -> None:
    site = Site(timeline, UNEQUAL)
    pages = await site.fetch_all(limit=3)
    asked = sorted(timeline.started)
    if asked != sorted(f"fetch({item!r})" for item in UNEQUAL):
        fail(
            f"{site.call(3)} made these calls: {asked}.\nExpected: fetch(item) once for every "
            f"item, no more, no less.\n\n{timeline.draw()}"
        )
    expected = [f"page {item}" for item in UNEQUAL]
    if pages == expected:
        return
    fail(
        f"{site.call(3)} returned {pages}, expected {expected}: the pages must follow the "
        "order of the items, not the order in which the fetches finished ('a' is the slowest, "
        "so it finishes last).\n"
        "Likely mistake: appending each page to a list as its fetch completes (workers, "
        "as_completed).\n"
        "Try: keep one task per item in a list, in item order, and read the pages from those "
        "tasks (asyncio.gather does the same: it keeps the order of its arguments).\n\n"
        + timeline.draw()
    )


async def test_an_item_listed_twice_is_fetched_twice_and_has_a_page_in_both_places(
    timeline: Timeline,
) -> None:
    site = Site(timeline, {"a": 0.1, "b": 0.1})
    call = f"fetch_all_limited(fetch, {TWICE}, limit=2)"
    pages = await semaphore.fetch_all_limited(site.fetch, list(TWICE), 2)
    calls = Counter(timeline.started)
    wanted = Counter(f"fetch({item!r})" for item in TWICE)
    expected = [f"page {item}" for item in TWICE]
    if calls == wanted and pages == expected:
        return
    made = ", ".join(f"{label} {n} time(s)" for label, n in sorted(calls.items())) or "no call"
    if calls == wanted and sorted(pages) == sorted(set(expected)):
        seen = (
            f"Both 'a's were fetched, but it returned {pages}: one page per distinct item, as "
            "a dict keyed by item (or a set) keeps them, where the second 'a' takes the place "
            "of the first.\n"
        )
    elif calls["fetch('a')"] == 1:
        seen = (
            f"It fetched 'a' once for its two entries and returned {pages}: each distinct "
            "item was fetched once (a set, or dict.fromkeys, of the items).\n"
        )
    else:
        seen = f"It returned {pages}.\n"
    fail(
        f"{call} made these calls: {made}.\n{seen}"
        f"Expected: fetch(item) once for every entry of the list, 'a' twice, and one page per "
        f"entry, in the order of the entries: {expected}. The list says what to fetch; "
        "fetch_all_limited does not second-guess it (a page may change between two fetches).\n"
        "Try: one task per entry, kept in a list (`[tg.create_task(...) for item in items]`), "
        f"and the pages read from that list, in its order.\n\n{timeline.draw()}"
    )


async def test_never_more_than_limit_fetches_at_once(timeline: Timeline, spy: AsyncioSpy) -> None:
    site = Site(timeline, EQUAL)
    await site.fetch_all(limit=2)
    peak, created = timeline.peak, spy.created
    if peak <= 2:
        return
    if not created:
        limited = "nothing limited them" if peak == len(EQUAL) else "what held them back leaks"
        mistake = (
            f"No asyncio.Semaphore was created during the call: {limited}.\n"
            "Try: create ONE asyncio.Semaphore(limit) before you start the tasks, and make every "
            "fetch go through `async with` that same semaphore."
        )
    elif len(created) > 1:
        each = "once for each fetch" if len(created) == len(EQUAL) else "for one call"
        mistake = (
            f"asyncio.Semaphore was created {len(created)} times, in {spy.where()}: "
            f"{each}. A fetch that goes through a semaphore of its own finds free slots and "
            "never waits for the others.\n"
            "Try: create ONE asyncio.Semaphore(limit) in fetch_all_limited, before you start the "
            "tasks, and make every fetch go through `async with` that same semaphore."
        )
    elif created[0][0] > 2:
        mistake = (
            f"The semaphore was created with {created[0][0]} slots, for a limit of 2"
            + (": an off-by-one." if created[0][0] == 3 else ".")
            + "\nTry: asyncio.Semaphore(limit) lets exactly `limit` fetches in at a time."
        )
    else:
        mistake = (
            f"A semaphore of {created[0][0]} slot(s) was created, but some fetches did not "
            "wait for it.\n"
            "Try: make every fetch go through `async with` that one semaphore."
        )
    fail(
        f"{site.call(2)}: {peak} fetches were in flight at the same time; expected at most 2.\n"
        f"{mistake}\n\n{timeline.draw()}"
    )


async def test_limit_fetches_run_at_once_not_one_at_a_time(
    timeline: Timeline, spy: AsyncioSpy
) -> None:
    site = Site(timeline, EQUAL)
    await site.fetch_all(limit=2)
    if timeline.peak >= 2:
        return
    if not timeline.spans:
        fail(f"{site.call(2)} never called fetch: call fetch(item) once per item.")
    held = (
        "the fetches ran one at a time. The semaphore was there, but a loop that awaits each "
        "fetch before it starts the next never has a second fetch to let in."
        if spy.created
        else "no semaphore was created, and each fetch started only once the one before it "
        "had finished: the fetches ran one after another, so their delays add up (six fetches "
        f"of 0.1 s: {scaled(0.6):.1f} s instead of three rounds, {scaled(0.3):.1f} s)."
    )
    fail(
        f"{site.call(2)}: only one fetch was in flight at a time, although the limit allows 2: "
        f"{held}\n"
        "Expected: 2 fetches in flight together.\n"
        "Try: start every fetch as a task (in an asyncio.TaskGroup) and let each task wait for "
        "the shared semaphore: `async with slots: return await fetch(item)`.\n\n" + timeline.draw()
    )


async def test_six_fetches_two_at_a_time_take_three_rounds(timeline: Timeline) -> None:
    site = Site(timeline, EQUAL)
    with timeline.expect_duration(
        0.3,
        delays=tuple(EQUAL.values()),
        what=f"{site.call(2)} (six fetches of 0.1 s)",
        advice="two at a time, six fetches of 0.1 s take three rounds: 3 x 0.1 = 0.3 s. Start "
        "every fetch as a task and let one shared asyncio.Semaphore(limit) hold back all but 2.",
        too_early="fewer than three rounds means more than 2 fetches ran at once: make every "
        "fetch wait for one shared asyncio.Semaphore(limit) before it starts.",
    ):
        await site.fetch_all(limit=2)


async def test_the_next_fetch_starts_as_soon_as_a_slot_frees_up(timeline: Timeline) -> None:
    site = Site(timeline, UNEQUAL)
    with timeline.expect_duration(
        0.4,
        delays=tuple(UNEQUAL.values()),
        what=f"{site.call(3)} (a 0.4, b 0.2, c 0.1, d 0.2, e 0.1 s)",
        advice="start the next fetch the moment any running one finishes: while 'a' (0.4 s) "
        "runs, b, c, d and e fit into the other two slots, so everything is done in 0.4 s. "
        "One task per item, each inside `async with slots:`, gives you that sliding window.",
    ):
        await site.fetch_all(limit=3)
        expect_no_wait_for_the_whole_batch(timeline, limit=3, call=site.call(3))


def expect_no_wait_for_the_whole_batch(timeline: Timeline, limit: int, call: str) -> None:
    """Probe: the first fetch past `limit` did not wait for the slowest of the first `limit`."""
    __tracebackhide__ = True
    ordered = sorted(timeline.spans, key=lambda span: span.start)
    first, rest = ordered[:limit], ordered[limit:]
    ends = [span.end for span in first if span.end is not None]
    if not rest or len(ends) < limit or first[-1].start - first[0].start > scaled(MARGIN):
        return  # not a first batch started together: the clock says what went wrong
    quickest: Span = min(first, key=lambda span: span.end or 0.0)
    slowest: Span = max(first, key=lambda span: span.end or 0.0)
    late = rest[0]
    if late.start - max(ends) < -scaled(MARGIN) or late.start - min(ends) < scaled(0.1):
        return
    fail(
        f"{call}: {late.label} started at {timeline.drawn(late.start):.2f} s, only once "
        f"{slowest.label}, the slowest of the first {limit}, had finished, although a slot had "
        f"been free since {timeline.drawn(min(ends)):.2f} s, when {quickest.label} finished. "
        f"The fetches ran in batches of {limit}, each waiting for the whole batch before the "
        "next began, so the fast slots sat idle.\n"
        "Expected: a sliding window: the next fetch starts the moment any running one "
        "finishes, so here everything is done when 'a', the slowest fetch, is.\n"
        "Try: one task per item, for all the items at once, each inside `async with slots:`: "
        f"no batches.\n\n{timeline.draw()}"
    )


async def test_a_limit_below_one_is_refused_with_valueerror(timeline: Timeline) -> None:
    site = Site(timeline, {"a": 0.1, "b": 0.1})
    wait = scaled(0.5)
    for limit in (0, -1):
        hung, pages, error = False, None, None
        try:
            async with asyncio.timeout(wait):
                pages = await site.fetch_all(limit=limit)
        except TimeoutError:
            hung = True
        except Exception as raised:
            error = raised
        if isinstance(error, ValueError) and not timeline.spans:
            continue
        if isinstance(error, ValueError):
            fail(
                f"{site.call(limit)} raised ValueError, but only after it had called fetch: "
                f"{timeline.started}.\nExpected: ValueError at once, before any fetch.\n"
                "Try: check the limit first thing in fetch_all_limited."
            )
        if error is not None:
            fail(f"{site.call(limit)} raised {error!r}; expected ValueError, at once.")
        if hung:
            fail(
                f"{site.call(limit)} was still waiting after {wait:.1f} s: a Semaphore(0) has "
                "no free slot, so every fetch waits for one forever (a silent deadlock).\n"
                "Expected: ValueError, at once.\n"
                "Try: `if limit < 1: raise ValueError(...)` before you create the semaphore."
            )
        fail(
            f"{site.call(limit)} returned {pages!r}; expected ValueError: with a limit below 1 "
            "no fetch may run, so the call cannot do its job.\n"
            "Try: `if limit < 1: raise ValueError(...)` before you create the semaphore."
        )


async def test_a_limit_of_one_fetches_one_item_at_a_time(timeline: Timeline) -> None:
    site = Site(timeline, {"a": 0.1, "b": 0.1, "c": 0.1})
    refused: ValueError | None = None
    try:
        pages = await site.fetch_all(limit=1)
    except ValueError as error:
        refused = error
    if refused is not None:
        fail(
            f"{site.call(1)} raised {refused!r}: a limit of 1 is legal, and means one fetch at "
            "a time. Only a limit below 1 (0 or negative) lets no fetch run.\n"
            "Expected: ['page a', 'page b', 'page c'], fetched one after the other.\n"
            "Try: refuse `limit < 1`, not `limit <= 1`."
        )
    if pages != ["page a", "page b", "page c"]:
        fail(f"{site.call(1)} returned {pages}, expected ['page a', 'page b', 'page c'].")
    timeline.expect_one_after_another("with limit=1, each fetch")


async def test_one_semaphore_is_shared_by_every_fetch(timeline: Timeline, spy: AsyncioSpy) -> None:
    site = Site(timeline, EQUAL)
    await site.fetch_all(limit=2)
    created = spy.created
    if len(created) == 1:
        return
    what = (
        "created no asyncio.Semaphore: the limit was kept some other way (a counter, a set "
        "of workers), or by a semaphore made before the call (at import), which cannot know "
        "this call's limit"
        if not created
        else f"created {len(created)} asyncio.Semaphore objects, in {spy.where()}: "
        "fetches that go through different semaphores do not wait for each other"
    )
    fail(
        f"{site.call(2)} {what}.\nExpected: one asyncio.Semaphore(limit), created once in "
        "the call and shared by every fetch.\n"
        "Try: `slots = asyncio.Semaphore(limit)` in fetch_all_limited, then "
        "`async with slots:` around each fetch."
    )


async def test_a_cancelled_call_stops_every_fetch(timeline: Timeline) -> None:
    site = Site(timeline, EQUAL)
    await cancel_midway(
        semaphore.fetch_all_limited(site.fetch, list(EQUAL), 2),
        after=0.05,  # a and b on their way, the others waiting for a slot
        what=site.call(2),
        timeline=timeline,
    )


async def test_a_failed_fetch_stops_the_others_before_its_error_goes_up(
    timeline: Timeline, spy: AsyncioSpy
) -> None:
    site = Site(timeline, {"a": 0.3, "b": 0.1, "c": 0.1}, failing="b")
    call = "fetch_all_limited(fetch, ['a' 0.3 s, 'b' fails at 0.1 s, 'c' 0.1 s], limit=2)"
    try:
        pages = await site.fetch_all(limit=2)
    except Exception as raised:
        running = [span.label for span in timeline.spans if span.end is None]  # before any await
        error = raised
    else:
        fail(
            f"{call} returned {pages}: the ConnectionError of 'b' never reached its caller.\n"
            "Expected: fetch_all_limited raises that error (alone, or in the ExceptionGroup of "
            f"a TaskGroup).\n\n{timeline.draw()}"
        )
    if not isinstance(error, ConnectionError) and (
        not isinstance(error, ExceptionGroup) or error.subgroup(ConnectionError) is None
    ):
        fail(f"{call} raised {error!r}, expected the ConnectionError of 'b'.")
    if running:
        fail(
            f"{call} raised {error!r}, but {' and '.join(running)} "
            f"{'was' if len(running) == 1 else 'were'} still running when fetch_all_limited "
            "raised: nobody will read those pages, and nothing stops them now.\n"
            + (
                "asyncio.gather raised the first error as it came, and it cancels nothing: the "
                "other fetches go on.\n"
                if spy.gathers
                else ""
            )
            + "Expected: when a fetch fails, the fetches still running or waiting are "
            "cancelled, and have stopped before the error goes on up.\n"
            "Try: start the tasks in `async with asyncio.TaskGroup() as tg:`: a failure cancels "
            f"the rest, and the group waits for them.\n\n{timeline.draw()}"
        )
    timeline.expect_none_ran_on(
        timeline.span("fetch('b')"),
        call,
        "start the tasks in `async with asyncio.TaskGroup() as tg:`: a failure cancels the "
        "rest, and the group waits for them.",
    )


class Site:
    """A fake web site: fetch(item) takes that item's delay on the timeline, returns its page.

    The item `failing` raises ConnectionError at the end of its delay instead.
    """

    def __init__(self, timeline: Timeline, delays: dict[str, float], failing: str = "") -> None:
        self.timeline = timeline
        self.delays = delays
        self.failing = failing

    async def fetch(self, item: str) -> str:
        error = ConnectionError(f"{item}: connection reset") if item == self.failing else None
        label, delay = f"fetch({item!r})", self.delays[item]
        page: str = await self.timeline.work(label, delay, f"page {item}", error=error)
        return page

    async def fetch_all(self, limit: int) -> list[str]:
        return await semaphore.fetch_all_limited(self.fetch, list(self.delays), limit)

    def call(self, limit: int) -> str:
        return f"fetch_all_limited(fetch, {list(self.delays)}, limit={limit})"


class AsyncioSpy:
    """What semaphore.py does with asyncio: every Semaphore it creates (slots, and where) and
    every asyncio.gather it calls."""

    def __init__(self) -> None:
        self.created: list[tuple[int, str]] = []  # (slots, the function that created it)
        self.gathers = 0
        self.Semaphore = self._noted(asyncio.Semaphore)
        self.BoundedSemaphore = self._noted(asyncio.BoundedSemaphore)

    def gather(self, *awaitables: Any, **options: Any) -> Any:
        self.gathers += 1
        return asyncio.gather(*awaitables, **options)

    def _noted(self, kind: type[asyncio.Semaphore]) -> type[asyncio.Semaphore]:
        created = self.created

        class Noted(kind):  # type: ignore[valid-type,misc]
            def __init__(self, value: int = 1) -> None:
                super().__init__(value)
                created.append((value, sys._getframe(1).f_code.co_name))

        Noted.__name__ = Noted.__qualname__ = kind.__name__
        return Noted

    def where(self) -> str:
        places = sorted({f"{place}()" for _, place in self.created})
        return " and ".join(places)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> AsyncioSpy:
    spy = AsyncioSpy()
    noted = {name: getattr(spy, name) for name in ("Semaphore", "BoundedSemaphore", "gather")}
    swap_in(monkeypatch, semaphore, asyncio, **noted)
    return spy
