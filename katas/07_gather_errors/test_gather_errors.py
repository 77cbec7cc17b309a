from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, cast

import gather_errors
import pytest
from harness import EARLY, MARGIN, Timeline, cancel_midway, fail, scaled, task_origins

BROKEN = "/orders"  # the URL whose fetch fails with a ConnectionError
# The slowest first, so the fetches finish in the reverse order of the URLs.
DELAYS = {"/users": 0.3, "/orders": 0.2, "/news": 0.1}
# /orders fails at 0.1 s, while /users would take 0.4 s and /news 0.3 s.
FAIL_FAST = {"/users": 0.4, "/orders": 0.1, "/news": 0.3}


async def test_the_report_holds_each_page_or_error_in_the_place_of_its_url(
    timeline: Timeline,
) -> None:
    web = FakeWeb(timeline, DELAYS, BROKEN)
    results = await report(web)
    expected = ["page /users", web.error, "page /news"]
    if results != expected:
        fail(
            f"{web.call('fetch_all_reporting')} returned\n  {results!r}\nexpected\n  "
            f"{expected!r}\nEach URL's page, or the exception its fetch raised, sits at the "
            "URL's index: the order of `urls`, not the order the fetches finished in (/news "
            "first, /users last). The error is the very exception object the fetch raised, not "
            "a message or a copy.\n"
            "Try: asyncio.gather(..., return_exceptions=True) returns exactly that list.\n\n"
            + timeline.draw()
        )


async def test_the_report_takes_about_the_slowest_fetch_not_the_sum(timeline: Timeline) -> None:
    web = FakeWeb(timeline, DELAYS, BROKEN)
    with timeline.expect_duration(
        max(DELAYS.values()),
        delays=tuple(DELAYS.values()),
        what=f"{web.call('fetch_all_reporting')} (0.3, 0.2 and 0.1 s)",
        advice="pass every fetch(url) to one asyncio.gather(..., return_exceptions=True): a "
        "try/except around each await in a loop catches the errors but runs the fetches in turn.",
    ):
        await report(web)


async def test_or_fail_returns_the_pages_in_url_order_when_every_fetch_succeeds(
    timeline: Timeline,
) -> None:
    web = FakeWeb(timeline, DELAYS)
    error, pages, _ = await or_fail(web)
    if error is not None:
        raise error
    expected = ["page /users", "page /orders", "page /news"]
    if pages != expected:
        fail(
            f"{web.call('fetch_all_or_fail')} returned {pages!r}, expected {expected!r}: the "
            "pages in the order of `urls`, not the order the fetches finished in (/news "
            "first).\nTry: keep the tasks in a list in URL order, and read task.result() from "
            "that list once they are all done.\n\n" + timeline.draw()
        )


async def test_no_urls_give_no_pages(timeline: Timeline) -> None:
    web = FakeWeb(timeline, {})
    for function in (gather_errors.fetch_all_reporting, gather_errors.fetch_all_or_fail):
        pages = await function(web.fetch, [])
        if pages != []:
            fail(
                f"{function.__name__}(fetch, []) returned {pages!r}, expected []: no URLs, "
                "no pages."
            )


async def test_or_fail_starts_every_fetch_before_any_finishes(timeline: Timeline) -> None:
    web = FakeWeb(timeline, DELAYS)
    error, _, _ = await or_fail(web)
    if error is not None:
        raise error
    timeline.expect_all_started_before_any_finished("fetch_all_or_fail's fetches")


async def test_or_fail_raises_the_failed_fetchs_own_error(timeline: Timeline) -> None:
    web = FakeWeb(timeline, FAIL_FAST, BROKEN)
    error, pages, _ = await or_fail(web)
    if error is web.error:
        return
    call, failed = web.call("fetch_all_or_fail"), f"fetch({BROKEN!r})"
    if error is None:
        fail(
            f"{call} returned {pages!r} instead of raising, although {failed} failed with "
            f"{web.error!r}: the caller gets a short list and cannot tell that a page is missing."
            "\nExpected: the ConnectionError raised to the caller, so that "
            "`except ConnectionError:` around the call catches it; reporting errors is "
            "fetch_all_reporting's job.\n"
            "Try: let the error propagate out of fetch_all_or_fail."
        )
    if isinstance(error, BaseExceptionGroup):
        fail(
            f"{call} raised {error!r} instead of the {web.error!r} itself: a TaskGroup wraps the "
            "errors of its tasks in an ExceptionGroup, so the caller's `except ConnectionError:` "
            "would not catch it.\n"
            "Expected: the ConnectionError that fetch raised, as itself.\n"
            "Try: catch the group around the `async with` block (`except* Exception as group:`) "
            "and raise its first error: `raise group.exceptions[0] from None`."
        )
    copy = " (the same type, but a new object)" if type(error) is type(web.error) else ""
    fail(
        f"{call} raised {error!r}{copy}, not the error {failed} raised: {web.error!r}.\n"
        "Expected: that very ConnectionError, so the caller can handle it by its type and see "
        "where it came from.\n"
        "Try: let the fetch's error propagate, or re-raise the exception object you caught."
    )


async def test_or_fail_cancels_the_other_fetches_when_one_fails(timeline: Timeline) -> None:
    web = FakeWeb(timeline, FAIL_FAST, BROKEN)
    with task_origins() as origins:
        error, _, _ = await or_fail(web)  # fails at once if a fetch is still running
    if error is not None and not web.raised_by_fetch(error):
        raise error
    call, failed = web.call("fetch_all_or_fail"), timeline.span(web.label(BROKEN))
    late = [
        s
        for s in timeline.spans
        if s is not failed and not s.cancelled and s.end and failed.end and s.end > failed.end
    ]
    if late:
        one = len(late) == 1
        kinds = {origins.get(s.task) for s in late if s.task is not None}
        origin = kinds.pop() if len(kinds) == 1 else None
        every = len(late) == len(timeline.spans) - 1  # every other fetch ran to its end
        fail(
            " and ".join(f"{s.label} (at {timeline.drawn(s.end or 0):.2f} s)" for s in late)
            + f" ran to {'its' if one else 'their'} end"
            + (f" in {'a task' if one else 'tasks'} started by {origin}" if origin else "")
            + f", although fetch({BROKEN!r}) had failed at "
            f"{timeline.drawn(failed.end or 0):.2f} s: {call} "
            + ("waited for every fetch to end before it raised, for " if every else "waited for ")
            + f"{'a page' if one else 'pages'} nobody will use.\nExpected: once a fetch fails, "
            "every other fetch cancelled, and "
            "done cancelling, before the error reaches the caller.\n"
            "Try: an asyncio.TaskGroup, which cancels the other tasks the moment one fails.\n\n"
            + timeline.draw()
        )


async def test_or_fail_raises_as_soon_as_a_fetch_fails_not_after_the_slowest(
    timeline: Timeline,
) -> None:
    web = FakeWeb(timeline, FAIL_FAST, BROKEN)
    error, pages, took = await or_fail(web)
    call, failed = web.call("fetch_all_or_fail"), f"fetch({BROKEN!r})"
    if error is None:
        fail(
            f"{call} returned {pages!r} instead of raising, although {failed} failed.\n"
            "Expected: the fetch's ConnectionError raised to the caller.\n\n" + timeline.draw()
        )
    if not web.raised_by_fetch(error):
        raise error
    ideal, slowest = scaled(FAIL_FAST[BROKEN]), scaled(max(FAIL_FAST.values()))
    low, high = EARLY * ideal, ideal + scaled(MARGIN)
    if low <= took <= high:
        return
    if took < low:
        verdict = "sooner than the failing fetch could fail: was it awaited at all?"
    elif timeline.peak == 1:
        verdict = "the fetches ran one after another, so it came only after the ones before it."
    elif took >= EARLY * slowest:
        verdict = (
            f"that is when the slowest fetch ({slowest:.2f} s) was done: it waited for every "
            "fetch to end before it raised."
        )
    else:
        verdict = "it waited for some of the other fetches before it raised."
    fail(
        f"{call} raised after {took:.2f} s, although {failed} fails {ideal:.2f} s after it "
        f"starts: {verdict}\n"
        f"Expected: the error at about {ideal:.2f} s (between {low:.2f} s and {high:.2f} s), "
        "and the other fetches cancelled, not awaited.\n"
        "Try: run the fetches in an asyncio.TaskGroup: the moment one task fails, it cancels the "
        "others, waits the few milliseconds they need to stop, and raises.\n\n" + timeline.draw()
    )


async def test_or_fail_raises_the_error_of_the_fetch_that_failed_first(timeline: Timeline) -> None:
    # /news fails at 0.1 s, /users at 0.2 s: the first to fail is not the first URL.
    web = FakeWeb(timeline, {"/users": 0.2, "/orders": 0.4, "/news": 0.1}, "/news", "/users")
    error, pages, _ = await or_fail(web)
    first = web.errors["/news"]
    if error is first or (isinstance(error, BaseExceptionGroup) and web.raised_by_fetch(error)):
        return  # an ExceptionGroup has its own test
    if error is web.errors["/users"]:
        fail(
            f"{web.call('fetch_all_or_fail')} raised {error!r}, the error of fetch('/users'), "
            f"which failed at 0.2 s; fetch('/news') had failed first, at 0.1 s, with {first!r}."
            "\nExpected: the error of the fetch that failed first (the first URL in the list "
            "need not be the first to fail).\n"
            "Try: raise as soon as a fetch fails, with that fetch's error: an asyncio.TaskGroup "
            "cancels the rest at the first failure, so its ExceptionGroup holds that error."
            "\n\n" + timeline.draw()
        )
    ended = f"returned {pages!r}" if error is None else f"raised {error!r}"
    fail(
        f"{web.call('fetch_all_or_fail')} {ended}, although fetch('/news') failed at 0.1 s and "
        f"fetch('/users') at 0.2 s.\nExpected: {first!r}, the error of the first to fail.\n\n"
        + timeline.draw()
    )


async def test_a_cancelled_report_leaves_no_fetch_running(timeline: Timeline) -> None:
    web = FakeWeb(timeline, DELAYS)
    await cancel_midway(
        gather_errors.fetch_all_reporting(web.fetch, web.urls),
        after=0.05,
        what=web.call("fetch_all_reporting"),
        timeline=timeline,
    )


async def test_a_cancelled_or_fail_leaves_no_fetch_running(timeline: Timeline) -> None:
    web = FakeWeb(timeline, DELAYS)
    await cancel_midway(
        gather_errors.fetch_all_or_fail(web.fetch, web.urls),
        after=0.05,
        what=web.call("fetch_all_or_fail"),
        timeline=timeline,
    )


class FakeWeb:
    """fetch(url) as fake work on the timeline: "page <url>" after the URL's delay.

    A broken URL raises its ConnectionError (`self.errors[url]`) at the end of its delay
    instead; `self.error` is the first broken URL's.
    """

    def __init__(self, timeline: Timeline, delays: dict[str, float], *broken: str) -> None:
        self.timeline = timeline
        self.delays = delays
        self.urls = list(delays)
        self.errors = {url: ConnectionError(f"{url}: connection refused") for url in broken}
        self.error = self.errors[broken[0]] if broken else ConnectionError()

    def label(self, url: str) -> str:
        return f"fetch({url!r})" + (" -> ConnectionError" if url in self.errors else "")

    async def fetch(self, url: str) -> str:
        error = self.errors.get(url)
        page: str = await self.timeline.work(
            self.label(url), self.delays[url], f"page {url}", error=error
        )
        return page

    def call(self, function: str) -> str:
        return f"{function}(fetch, {self.urls})"

    def raised_by_fetch(self, error: BaseException) -> bool:
        """Is `error` the broken fetch's own error, or an ExceptionGroup holding it?"""
        if error is self.error:
            return True
        return (
            isinstance(error, BaseExceptionGroup)
            and error.subgroup(lambda e: e is self.error) is not None
        )


async def report(web: FakeWeb) -> list[str | BaseException]:
    """fetch_all_reporting(web.fetch, web.urls), failing the test if the fetch's error escapes."""
    with task_origins() as origins:
        try:
            return await gather_errors.fetch_all_reporting(web.fetch, web.urls)
        except Exception as error:
            if not web.raised_by_fetch(error):
                raise
            escaped = error
    # outside `except`, so the failure shows this explanation once
    kinds = {origins.get(s.task) for s in web.timeline.spans if s.task is not None}
    if isinstance(escaped, BaseExceptionGroup):
        seen = (
            "Seen: an ExceptionGroup, as a TaskGroup raises when one of its tasks fails (it "
            "cancels the others, too).\n"
        )
    elif kinds == {"asyncio.gather"}:
        seen = (
            "Seen: the fetches ran in tasks started by asyncio.gather, which raises the first "
            "error it sees unless you ask it to return the errors instead.\n"
        )
    else:
        seen = ""
    fail(
        f"{web.call('fetch_all_reporting')} raised {escaped!r} instead of returning it in the "
        f"list: one failed fetch must not sink the whole report.\n{seen}"
        f"Expected: ['page /users', {web.error!r}, 'page /news'], each page or error in the "
        "place of its URL.\n"
        "Try: asyncio.gather(..., return_exceptions=True), which puts each exception in the "
        f"result list where its page would have been.\n\n{web.timeline.draw()}"
    )


async def or_fail(web: FakeWeb) -> tuple[Exception | None, list[str] | None, float]:
    """fetch_all_or_fail(web.fetch, web.urls): what it raised, returned, and how long it took.

    Fails the test at once if a fetch was still running when the call gave control back.
    """
    __tracebackhide__ = True
    error, pages = None, None
    with task_origins() as origins:
        started = time.perf_counter()
        try:
            pages = await gather_errors.fetch_all_or_fail(web.fetch, web.urls)
        except NotImplementedError:
            raise
        except Exception as raised:
            error = raised
        took = time.perf_counter() - started
    expect_no_fetch_left_running(web, origins, ended=web.timeline.now())
    return error, pages, took


def expect_no_fetch_left_running(
    web: FakeWeb, origins: dict[asyncio.Task[Any], str], ended: float
) -> None:
    """Every fetch had ended when fetch_all_or_fail gave control back (at `ended`)."""
    __tracebackhide__ = True
    call = web.call("fetch_all_or_fail")
    for span in web.timeline.spans:
        if span.end is not None:
            continue
        if span.task is not None and span.task.cancelling():
            happened = (
                f"{span.label} was cancelled, but had not finished cancelling when {call} "
                f"gave control back at {web.timeline.drawn(ended):.2f} s: task.cancel() only "
                "requests the cancellation, which happens at the task's next await."
            )
            advice = (
                "after cancelling the tasks, await them (`await asyncio.gather(*tasks, "
                "return_exceptions=True)`) before raising; an asyncio.TaskGroup does both."
            )
        else:
            origin = origins.get(span.task) if span.task is not None else None
            happened = (
                f"{span.label} was still running"
                + (f" in a task started by {origin}" if origin else "")
                + f" when {call} gave control back at {web.timeline.drawn(ended):.2f} s: "
                + (
                    "asyncio.gather raises the first error at once, but does not cancel the "
                    "other fetches."
                    if origin == "asyncio.gather"
                    else "nothing cancelled it."
                )
                + " It keeps running behind the caller's back, and its page or error is lost."
            )
            advice = (
                "an asyncio.TaskGroup, which cancels the other tasks when one fails and waits "
                "for them to stop before it raises."
            )
        fail(
            f"{happened}\nExpected: once a fetch fails, every other fetch cancelled, and done "
            f"cancelling, before the error reaches the caller.\nTry: {advice}\n\n"
            + web.timeline.draw()
        )
