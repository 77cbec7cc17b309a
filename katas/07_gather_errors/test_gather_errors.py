import time

import gather_errors
import pytest
from harness import EARLY, MARGIN, Span, Timeline, scaled

BROKEN = "/orders"  # the URL whose fetch fails with a ConnectionError
# The slowest first, so the fetches finish in the reverse order of the URLs.
DELAYS = {"/users": 0.3, "/orders": 0.2, "/news": 0.1}
# /orders fails at 0.1 s, while /users would take 0.4 s and /news 0.3 s.
FAIL_FAST = {"/users": 0.4, "/orders": 0.1, "/news": 0.3}


class FakeWeb:
    """fetch(url) as fake work on the timeline: "page <url>" after the URL's delay.

    The broken URL raises `self.error` (a ConnectionError) at the end of its delay instead.
    """

    def __init__(self, timeline: Timeline, delays: dict[str, float], broken: str = "") -> None:
        self.timeline = timeline
        self.delays = delays
        self.urls = list(delays)
        self.broken = broken
        self.error = ConnectionError(f"{broken}: connection refused")

    def label(self, url: str) -> str:
        return f"fetch({url!r})" + (" -> ConnectionError" if url == self.broken else "")

    async def fetch(self, url: str) -> str:
        error = self.error if url == self.broken else None
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

    def span(self, url: str) -> Span | None:
        return next((s for s in self.timeline.spans if s.label == self.label(url)), None)


async def report(web: FakeWeb) -> list[str | BaseException]:
    """fetch_all_reporting(web.fetch, web.urls), failing the test if the fetch's error escapes."""
    try:
        return await gather_errors.fetch_all_reporting(web.fetch, web.urls)
    except Exception as error:
        if not web.raised_by_fetch(error):
            raise
        escaped = error
    # outside `except`, so the failure shows this explanation once
    pytest.fail(
        f"{web.call('fetch_all_reporting')} raised {escaped!r} instead of returning it in the "
        f"list: one failed fetch must not sink the whole report.\n"
        f"Expected: ['page /users', {web.error!r}, 'page /news'], each page or error in the "
        "place of its URL.\n"
        "Likely mistake: asyncio.gather(...) without return_exceptions=True (or a TaskGroup) "
        "raises as soon as one fetch fails.\n"
        "Try: asyncio.gather(..., return_exceptions=True), which puts each exception in the "
        f"result list where its page would have been.\n\n{web.timeline.draw()}",
        pytrace=False,
    )


async def or_fail(web: FakeWeb) -> tuple[Exception | None, list[str] | None, float]:
    """fetch_all_or_fail(web.fetch, web.urls): what it raised, returned, and how long it took."""
    started = time.perf_counter()
    try:
        pages = await gather_errors.fetch_all_or_fail(web.fetch, web.urls)
    except NotImplementedError:
        raise
    except Exception as error:
        return error, None, time.perf_counter() - started
    return None, pages, time.perf_counter() - started


async def test_the_report_holds_each_page_or_error_in_the_place_of_its_url(
    timeline: Timeline,
) -> None:
    web = FakeWeb(timeline, DELAYS, broken=BROKEN)
    results = await report(web)
    expected = ["page /users", web.error, "page /news"]
    assert results == expected, (
        f"{web.call('fetch_all_reporting')} returned\n  {results!r}\nexpected\n  {expected!r}\n"
        "Each URL's page, or the exception its fetch raised, sits at the URL's index: the order "
        "of `urls`, not the order the fetches finished in (/news first, /users last). The error "
        "is the very exception object the fetch raised, not a message or a copy.\n"
        "Try: asyncio.gather(..., return_exceptions=True) returns exactly that list.\n\n"
        + timeline.draw()
    )


async def test_the_report_takes_about_the_slowest_fetch_not_the_sum(timeline: Timeline) -> None:
    web = FakeWeb(timeline, DELAYS, broken=BROKEN)
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
    assert pages == expected, (
        f"{web.call('fetch_all_or_fail')} returned {pages!r}, expected {expected!r}: the pages "
        "in the order of `urls`, not the order the fetches finished in (/news first).\n"
        "Try: keep the tasks in a list in URL order, and read task.result() from that list "
        "once they are all done.\n\n" + timeline.draw()
    )


async def test_or_fail_starts_every_fetch_before_any_finishes(timeline: Timeline) -> None:
    web = FakeWeb(timeline, DELAYS)
    error, _, _ = await or_fail(web)
    if error is not None:
        raise error
    timeline.expect_all_started_before_any_finished("fetch_all_or_fail's fetches")


async def test_or_fail_raises_the_failed_fetchs_own_error(timeline: Timeline) -> None:
    web = FakeWeb(timeline, FAIL_FAST, broken=BROKEN)
    error, pages, _ = await or_fail(web)
    if error is web.error:
        return
    call, failed = web.call("fetch_all_or_fail"), f"fetch({BROKEN!r})"
    if error is None:
        pytest.fail(
            f"{call} returned {pages!r} instead of raising, although {failed} failed with "
            f"{web.error!r}: the caller gets a short list and cannot tell that a page is missing."
            "\nExpected: the ConnectionError raised to the caller, so that "
            "`except ConnectionError:` around the call catches it.\n"
            "Likely mistake: catching the error (or gathering with return_exceptions=True) and "
            "returning the pages that did arrive; reporting is fetch_all_reporting's job.\n"
            "Try: let the error propagate out of fetch_all_or_fail.",
            pytrace=False,
        )
    if isinstance(error, BaseExceptionGroup):
        pytest.fail(
            f"{call} raised {error!r} instead of the {web.error!r} itself: a TaskGroup wraps the "
            "errors of its tasks in an ExceptionGroup, so the caller's `except ConnectionError:` "
            "would not catch it.\n"
            "Expected: the ConnectionError that fetch raised, as itself.\n"
            "Try: catch the group around the `async with` block (`except* Exception as group:`) "
            "and raise its first error: `raise group.exceptions[0] from None`.",
            pytrace=False,
        )
    copy = " (the same type, but a new object)" if type(error) is type(web.error) else ""
    pytest.fail(
        f"{call} raised {error!r}{copy}, not the error {failed} raised: {web.error!r}.\n"
        "Expected: that very ConnectionError, so the caller can handle it by its type and see "
        "where it came from.\n"
        "Try: let the fetch's error propagate, or re-raise the exception object you caught.",
        pytrace=False,
    )


async def test_or_fail_cancels_the_other_fetches_when_one_fails(timeline: Timeline) -> None:
    web = FakeWeb(timeline, FAIL_FAST, broken=BROKEN)
    error, _, _ = await or_fail(web)
    ended = timeline.now()  # nothing has run since fetch_all_or_fail gave control back
    if error is not None and not web.raised_by_fetch(error):
        raise error
    call, failed = web.call("fetch_all_or_fail"), timeline.span(web.label(BROKEN))
    begin = min(s.start for s in timeline.spans)  # times as the timeline draws them
    for url in web.urls:
        sibling = web.span(url)
        if url == BROKEN or sibling is None or sibling.cancelled:
            continue  # the failed one, one never started, or one cancelled in time: all fine
        if sibling.end is None and sibling.task is not None and sibling.task.cancelling():
            happened = (
                f"{sibling.label} was cancelled, but had not finished cancelling when {call} "
                f"gave control back at {ended - begin:.2f} s."
            )
            advice = (
                "Likely mistake: task.cancel() only requests the cancellation, which happens at "
                "the task's next await; raising right after it leaves the task running.\n"
                "Try: after cancelling the tasks, await them (`await asyncio.gather(*tasks, "
                "return_exceptions=True)`) before raising; an asyncio.TaskGroup does both."
            )
        elif sibling.end is None:
            happened = (
                f"{sibling.label} was still running when {call} gave control back at "
                f"{ended - begin:.2f} s: nothing cancelled it, so it keeps running behind the "
                "caller's back, and its page or error is lost."
            )
            advice = (
                "Likely mistake: plain asyncio.gather(...) raises the first error at once but "
                "does not cancel the other fetches.\n"
                "Try: an asyncio.TaskGroup, which cancels the other tasks when one fails and "
                "waits for them to stop before it raises."
            )
        elif failed.end is not None and sibling.end > failed.end:
            happened = (
                f"{sibling.label} ran to its end at {sibling.end - begin:.2f} s, although "
                f"fetch({BROKEN!r}) had failed at {failed.end - begin:.2f} s: {call} waited for "
                "a page nobody will use."
            )
            advice = (
                "Likely mistake: waiting for every fetch (asyncio.gather with "
                "return_exceptions=True, or awaiting each task) before raising.\n"
                "Try: an asyncio.TaskGroup, which cancels the other tasks the moment one fails."
            )
        else:
            continue
        pytest.fail(
            f"{happened}\nExpected: once a fetch fails, every other fetch cancelled, and done "
            f"cancelling, before the error reaches the caller.\n{advice}\n\n{timeline.draw()}",
            pytrace=False,
        )


async def test_or_fail_raises_as_soon_as_a_fetch_fails_not_after_the_slowest(
    timeline: Timeline,
) -> None:
    web = FakeWeb(timeline, FAIL_FAST, broken=BROKEN)
    error, pages, took = await or_fail(web)
    call, failed = web.call("fetch_all_or_fail"), f"fetch({BROKEN!r})"
    if error is None:
        pytest.fail(
            f"{call} returned {pages!r} instead of raising, although {failed} failed.\n"
            "Expected: the fetch's ConnectionError raised to the caller.\n\n" + timeline.draw(),
            pytrace=False,
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
    pytest.fail(
        f"{call} raised after {took:.2f} s, although {failed} fails {ideal:.2f} s after it "
        f"starts: {verdict}\n"
        f"Expected: the error at about {ideal:.2f} s (between {low:.2f} s and {high:.2f} s), "
        "and the other fetches cancelled, not awaited.\n"
        "Try: run the fetches in an asyncio.TaskGroup: the moment one task fails, it cancels the "
        "others, waits the few milliseconds they need to stop, and raises.\n\n" + timeline.draw(),
        pytrace=False,
    )
