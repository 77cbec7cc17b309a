import asyncio

import pytest
import semaphore
from harness import Timeline, scaled

# Six fetches of 0.1 s, two at a time: three rounds, 0.3 s (one after another: 0.6 s).
EQUAL = dict.fromkeys("abcdef", 0.1)
# Three at a time, 'a' the slow one: b, c, d and e fit into the other two slots while 'a' runs,
# so all is done in 0.4 s. Batches of three wait for their slowest: [a b c] 0.4 + [d e] 0.2 s.
UNEQUAL = {"a": 0.4, "b": 0.2, "c": 0.1, "d": 0.2, "e": 0.1}


class Site:
    """A fake web site: fetch(item) takes that item's delay on the timeline, returns its page."""

    def __init__(self, timeline: Timeline, delays: dict[str, float]) -> None:
        self.timeline = timeline
        self.delays = delays

    async def fetch(self, item: str) -> str:
        page: str = await self.timeline.work(f"fetch({item!r})", self.delays[item], f"page {item}")
        return page

    async def fetch_all(self, limit: int) -> list[str]:
        return await semaphore.fetch_all_limited(self.fetch, list(self.delays), limit)

    def call(self, limit: int) -> str:
        return f"fetch_all_limited(fetch, {list(self.delays)}, limit={limit})"


async def test_the_pages_come_back_in_the_order_of_the_items(timeline: Timeline) -> None:
    site = Site(timeline, UNEQUAL)
    pages = await site.fetch_all(limit=3)
    expected = [f"page {item}" for item in UNEQUAL]
    if pages == expected:
        return
    pytest.fail(
        f"{site.call(3)} returned {pages}, expected {expected}: the pages must follow the "
        "order of the items, not the order in which the fetches finished ('a' is the slowest, "
        "so it finishes last).\n"
        "Likely mistake: appending each page to a list as its fetch completes (workers, "
        "as_completed).\n"
        "Try: keep one task per item in a list, in item order, and read the pages from those "
        "tasks (asyncio.gather does the same: it keeps the order of its arguments).\n\n"
        + timeline.draw(),
        pytrace=False,
    )


async def test_never_more_than_limit_fetches_at_once(timeline: Timeline) -> None:
    site = Site(timeline, EQUAL)
    await site.fetch_all(limit=2)
    peak = timeline.peak
    if peak <= 2:
        return
    if peak == len(EQUAL):
        mistake = (
            "All of them ran at once: nothing limited them.\n"
            "Likely mistake: no semaphore around the fetch (gather or a TaskGroup alone starts "
            "everything), or a semaphore created inside each task: every fetch then has its "
            "own, with free slots, and never waits for the others.\n"
            "Try: create ONE asyncio.Semaphore(limit) before you start the tasks, and make every "
            "fetch go through `async with` that same semaphore."
        )
    elif peak == 3:
        mistake = (
            "That is one more than the limit: an off-by-one. Is the semaphore built with "
            "limit + 1, or does a hand-made counter let one more through (`>` instead of `>=`)?\n"
            "Try: asyncio.Semaphore(limit) lets exactly `limit` fetches in at a time."
        )
    else:
        mistake = (
            "Some fetches did not wait for a free slot.\n"
            "Try: make every fetch go through `async with` one shared asyncio.Semaphore(limit)."
        )
    pytest.fail(
        f"{site.call(2)}: {peak} fetches were in flight at the same time; expected at most 2.\n"
        f"{mistake}\n\n{timeline.draw()}",
        pytrace=False,
    )


async def test_limit_fetches_run_at_once_not_one_at_a_time(timeline: Timeline) -> None:
    site = Site(timeline, EQUAL)
    await site.fetch_all(limit=2)
    if timeline.peak >= 2:
        return
    if not timeline.spans:
        pytest.fail(f"{site.call(2)} never called fetch: call fetch(item) once per item.")
    pytest.fail(
        f"{site.call(2)}: only one fetch was in flight at a time, although the limit allows 2: "
        "the fetches ran one at a time, one after another.\n"
        "Likely mistake: awaiting each fetch in a `for` loop (with or without the semaphore "
        "around it): the loop waits for each fetch before it starts the next, so there is never "
        "a second fetch to let in.\n"
        "Expected: 2 fetches in flight together.\n"
        "Try: start every fetch as a task (asyncio.TaskGroup or asyncio.gather) and let each "
        "task wait for the shared semaphore: `async with slots: return await fetch(item)`.\n\n"
        + timeline.draw(),
        pytrace=False,
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
        advice="start the next fetch the moment any running one finishes, not when the whole "
        "batch of 3 is done: a batch waits for its slowest fetch. While 'a' (0.4 s) runs, b, c, "
        "d and e fit into the other two slots, so everything is done in 0.4 s; batches [a b c] "
        "then [d e] take 0.4 + 0.2 = 0.6 s. One task per item, each inside "
        "`async with slots:`, gives you that sliding window.",
    ):
        await site.fetch_all(limit=3)


async def test_a_limit_below_one_is_refused_with_valueerror(timeline: Timeline) -> None:
    site = Site(timeline, {"a": 0.1, "b": 0.1})
    wait = scaled(0.5)
    hung, pages = False, None
    try:
        async with asyncio.timeout(wait):
            pages = await site.fetch_all(limit=0)
    except ValueError:
        return
    except TimeoutError:
        hung = True
    if hung:
        pytest.fail(
            f"{site.call(0)} was still waiting after {wait:.1f} s: a Semaphore(0) has no free "
            "slot, so every fetch waits for one forever (a silent deadlock).\n"
            "Expected: ValueError, at once.\n"
            "Try: `if limit < 1: raise ValueError(...)` before you create the semaphore.",
            pytrace=False,
        )
    pytest.fail(
        f"{site.call(0)} returned {pages!r}; expected ValueError: with a limit of 0 no fetch may "
        "run, so the call cannot do its job.\n"
        "Try: `if limit < 1: raise ValueError(...)` before you create the semaphore.",
        pytrace=False,
    )
