from __future__ import annotations

import contextlib
import inspect
import itertools
from collections.abc import AsyncGenerator

import as_completed
import pytest
from harness import EARLY, MARGIN, Timeline, cancel_midway, fail, scaled, were

# The first url asked for is the slowest: a page that waits for it is reported late.
DELAYS = {"/big": 0.3, "/small": 0.1, "/medium": 0.2}
URLS = list(DELAYS)
FASTEST_FIRST = [f"page {url[1:]}" for url in sorted(URLS, key=DELAYS.__getitem__)]
IN_URL_ORDER = [f"page {url[1:]}" for url in URLS]


def download_call(urls: list[str]) -> str:
    shown = ", ".join(f"{url!r} {DELAYS[url]} s" for url in urls)
    return f"download_all(fetch, [{shown}], on_progress)"


CALL = download_call(URLS)
AS_COMPLETED = (
    "for next_done in asyncio.as_completed(downloads): page = await next_done, then "
    "on_progress(page) at once, inside the loop."
)

# Every download here is done in 0.3 s: an answer that never gives the loop back fails in 2 s.
pytestmark = pytest.mark.timeout(2)


async def test_progress_is_reported_fastest_first(downloads: Downloads) -> None:
    # Another order of the urls: the first one is not the slowest, nor the last the fastest.
    urls = ["/medium", "/big", "/small"]
    await downloads.download_all(urls)
    reports, timeline = downloads.reports, downloads.timeline
    if reports == FASTEST_FIRST:
        return
    in_url_order = [f"page {url[1:]}" for url in urls]
    fetches = [s for s in timeline.spans if s.label.startswith("fetch ")]
    last_in = max((s.end for s in fetches if s.end is not None), default=0.0)
    in_turn = sorted(fetches, key=lambda s: s.start)
    if reports == in_url_order and all(
        earlier.end is not None and later.start >= earlier.end
        for earlier, later in itertools.pairwise(in_turn)
    ):
        mistake = (
            "The downloads ran one after another: each fetch started only once the one before "
            "it had finished (see the timeline), so every page was reported in the order of the "
            "urls, and the fast 'page small' waited for the two slower downloads before it."
        )
    elif reports == in_url_order and downloads.reported_at[0] >= last_in:
        mistake = (
            "Every page was reported at once, after the last one was in, and in the order "
            "of the urls: the pages were collected first and reported afterwards in the order "
            "they were asked for (asyncio.gather returns its results in the order you passed "
            "them), so the progress bar sat still, then jumped."
        )
    elif reports == in_url_order:
        small_in = timeline.span("fetch /small").end or 0.0
        mistake = (
            f"{reports[0]!r} was reported at {timeline.drawn(downloads.reported_at[0]):.2f} s, "
            f"although 'page small' had been in since {timeline.drawn(small_in):.2f} s: "
            "the pages were taken in the order of the urls, each one waiting for the one "
            "before it, as when awaiting the downloads in a for loop over the urls."
        )
    elif sorted(map(repr, reports)) == sorted(map(repr, FASTEST_FIRST)):
        mistake = "The pages were reported in yet another order than the one they arrived in."
    else:
        mistake = (
            "on_progress should get every page exactly once (the page itself, not a coroutine "
            "or a task)."
        )
    fail(
        f"{download_call(urls)} called on_progress with {reports!r}, expected "
        f"{FASTEST_FIRST!r}: each "
        f"page reported when it arrives, the fastest first.\n{mistake}\n"
        f"Try: {AS_COMPLETED}\n\n{timeline.draw()}"
    )


async def test_every_page_comes_back_in_the_order_it_arrived(downloads: Downloads) -> None:
    pages = await downloads.download_all()
    if pages == FASTEST_FIRST:
        return
    mistake = (
        "These are the pages in the order of the urls, not the order they arrived in: "
        "asyncio.gather (or awaiting the downloads one by one, in url order) keeps the order "
        "you asked in."
        if pages == IN_URL_ORDER
        else "Is a page missing, or a coroutine or task returned instead of its page?"
    )
    fail(
        f"{CALL} returned {pages!r}, expected {FASTEST_FIRST!r}: the pages in the order they "
        f"arrived, the fastest first.\n{mistake}\nTry: {AS_COMPLETED}"
    )


async def test_the_first_report_comes_as_soon_as_the_fastest_page_is_in(
    downloads: Downloads,
) -> None:
    await downloads.download_all()
    fastest = min(DELAYS.values())
    low, high = EARLY * scaled(fastest), scaled(fastest) + scaled(MARGIN)
    if not downloads.reported_at:
        fail(f"{CALL} never called on_progress.\nTry: {AS_COMPLETED}")
    first = downloads.reported_at[0] - downloads.called_at
    if low <= first <= high:
        return
    fetched = [s for s in downloads.timeline.spans if s.label.startswith("fetch ")]
    if first < low:
        verdict = (
            f"the first on_progress call came after only {first:.2f} s, before any download "
            "could have finished: was it given a page that was not in yet (a coroutine or a "
            "task)?"
        )
    elif all(s.end is not None and s.end <= downloads.reported_at[0] for s in fetched):
        verdict = (
            f"the first on_progress call came only at {first:.2f} s, after every download had "
            "finished: the pages that were in earlier waited for the slowest one instead of "
            "being reported as they arrived, so the progress bar sat still, then jumped."
        )
        if downloads.reports == FASTEST_FIRST:
            verdict += (
                "\nThe reports did come fastest first, but all at once: the pages were "
                "collected as they arrived, and on_progress called only once all were in "
                "(after the loop)."
            )
        elif downloads.reports == IN_URL_ORDER:
            verdict += (
                "\nThe reports came all at once, in the order of the urls: the pages were "
                "taken in the order they were asked for, not the order they arrived in."
            )
    else:
        verdict = (
            f"the first on_progress call came only at {first:.2f} s, for "
            f"{downloads.reports[0]!r}: download_all waited for a slower download before it "
            "reported the fastest page."
        )
    fail(
        f"{CALL}: {verdict}\nExpected: the first report about {scaled(fastest):.2f} s after the "
        f"call, as soon as '/small' is in (between {low:.2f} s and {high:.2f} s).\n"
        f"Try: {AS_COMPLETED}\n\n{downloads.timeline.draw()}"
    )


async def test_all_downloads_finish_in_about_the_longest_delay(downloads: Downloads) -> None:
    with downloads.timeline.expect_duration(
        max(DELAYS.values()),
        delays=tuple(DELAYS.values()),
        what=CALL,
        advice="start every download before you wait for any of them (tasks in a TaskGroup), "
        "then take them as they complete with asyncio.as_completed.",
    ):
        await downloads.download_all()


async def test_a_cancelled_download_all_stops_every_download(downloads: Downloads) -> None:
    await cancel_midway(
        as_completed.download_all(downloads.fetch, URLS, downloads.on_progress),
        after=0.15,  # '/small' is in, '/medium' and '/big' are still on their way
        what=CALL,
        timeline=downloads.timeline,
    )


async def test_a_failed_download_stops_the_others_before_its_error_goes_up(
    timeline: Timeline,
) -> None:
    downloads = Downloads(timeline, failing="/medium")
    what = CALL.replace("'/medium' 0.2 s", "'/medium' fails at 0.2 s")
    try:
        pages = await as_completed.download_all(downloads.fetch, URLS, downloads.on_progress)
    except Exception as raised:
        running = [s.label for s in timeline.spans if s.end is None]  # no await since it raised
        error = raised
    else:
        fail(
            f"{what} returned {pages!r}: the ConnectionError of '/medium' never reached its "
            "caller.\nExpected: download_all raises that error (alone, or in the "
            "ExceptionGroup of a TaskGroup).\n\n" + timeline.draw()
        )
    if not isinstance(error, ConnectionError) and (
        not isinstance(error, ExceptionGroup) or error.subgroup(ConnectionError) is None
    ):
        fail(f"{what} raised {error!r}, expected the ConnectionError of '/medium'.")
    if running:
        fail(
            f"{what} raised {error!r}, but {' and '.join(running)} {were(running)} still running "
            "when download_all raised: nobody will read that page, and nothing stops it now.\n"
            "Expected: when a download fails, the downloads still running are cancelled, and "
            "have stopped before the error goes on up.\n"
            "Try: create the download tasks in `async with asyncio.TaskGroup() as tg:` and run "
            "the as_completed loop inside it: a failure cancels the rest, and the group waits "
            f"for them.\n\n{timeline.draw()}"
        )
    timeline.expect_none_ran_on(
        timeline.span("fetch /medium"),
        what,
        "create the download tasks in `async with asyncio.TaskGroup() as tg:` and run the "
        "as_completed loop inside it: a failure cancels the rest, and the group waits for them.",
    )


async def test_an_error_in_on_progress_stops_the_downloads_and_goes_up(
    timeline: Timeline,
) -> None:
    downloads = Downloads(timeline, broken="page small")
    what = f"{CALL}, where on_progress('page small') raises BarBroken,"
    try:
        pages = await as_completed.download_all(downloads.fetch, URLS, downloads.on_progress)
    except Exception as raised:
        running = [s.label for s in timeline.spans if s.end is None]  # no await since it raised
        error = raised
    else:
        fail(
            f"{what} returned {pages!r}: on_progress('page small') raised {downloads.broke!r}, "
            "and download_all carried on. The caller's code failed, and the caller never hears "
            "of it: its progress bar is broken, and nothing says so.\n"
            "Expected: download_all raises that error (alone, or in the ExceptionGroup of a "
            "TaskGroup), once the downloads still running are cancelled and stopped.\n"
            "Try: call on_progress(page) plainly inside the as_completed loop, in the TaskGroup, "
            f"with no try/except around it.\n\n{timeline.draw()}"
        )
    if error is not downloads.broke and (
        not isinstance(error, ExceptionGroup)
        or error.subgroup(lambda e: e is downloads.broke) is None
    ):
        fail(f"{what} raised {error!r}, expected the {downloads.broke!r} of on_progress.")
    if running:
        fail(
            f"{what} raised {error!r}, but {' and '.join(running)} {were(running)} still running "
            "when download_all raised: nobody will read that page, and nothing stops it now.\n"
            "Expected: when on_progress fails, the downloads still running are cancelled, and "
            "have stopped before the error goes on up.\n"
            "Try: call on_progress inside the `async with asyncio.TaskGroup() as tg:` block: an "
            f"error there cancels the downloads, and the group waits for them.\n\n{timeline.draw()}"
        )
    timeline.expect_none_ran_on(
        timeline.span("on_progress('page small')"),
        what,
        "call on_progress inside the `async with asyncio.TaskGroup() as tg:` block: an error "
        "there cancels the downloads, and the group waits for them.",
    )


# Stage 2: the same downloads as a stream, read with `async for`.
STREAM = "stream_downloads(fetch, ['/big' 0.3 s, '/small' 0.1 s, '/medium' 0.2 s])"
YIELD_AS_COMPLETED = (
    "start every download as a task, then `for next_done in asyncio.as_completed(downloads): "
    "yield await next_done`, inside try/finally: the finally cancels the downloads and awaits "
    "them (asyncio.gather(*downloads, return_exceptions=True))."
)


def open_stream(downloads: Downloads) -> AsyncGenerator[str, None]:
    """stream_downloads(fetch, URLS), failing the test at once if it is no async generator."""
    stream = as_completed.stream_downloads(downloads.fetch, URLS)
    if inspect.isasyncgen(stream):
        return stream
    if inspect.iscoroutine(stream):
        stream.close()  # never started: nothing ran, and no "never awaited" warning
    fail(
        f"{STREAM} returned {stream!r}, not an async generator: an `async def` with a `yield` "
        "in it is an async generator, read with `async for`, handing out one page at a time; "
        "an `async def` that returns a list is a coroutine, whose caller gets everything at "
        f"once, at the end.\nTry: {YIELD_AS_COMPLETED}"
    )


@pytest.mark.stage(2)
async def test_the_stream_yields_each_page_the_moment_it_arrives(downloads: Downloads) -> None:
    timeline = downloads.timeline
    started = timeline.now()
    pages: list[str] = []
    at: list[float] = []
    async with contextlib.aclosing(open_stream(downloads)) as stream:
        async for page in stream:
            pages.append(page)
            at.append(timeline.now() - started)
            timeline.mark(f"got {page!r}")
    if pages != FASTEST_FIRST:
        mistake = (
            "These are the pages in the order of the urls: the stream waited for the slow "
            "'/big' before it handed out the faster pages (asyncio.gather, or awaiting the "
            "downloads one by one in url order)."
            if pages == IN_URL_ORDER
            else "Is a page missing, or a coroutine or task yielded instead of its page?"
        )
        fail(
            f"`async for` over {STREAM} got {pages!r}, expected {FASTEST_FIRST!r}: each page "
            f"as it arrives, the fastest first.\n{mistake}\nTry: {YIELD_AS_COMPLETED}\n\n"
            + timeline.draw()
        )
    fastest = min(DELAYS.values())
    low, high = EARLY * scaled(fastest), scaled(fastest) + scaled(MARGIN)
    if low <= at[0] <= high:
        return
    if at[0] > high and at[0] >= EARLY * scaled(max(DELAYS.values())):
        verdict = (
            f"the first page came out of the stream only at {at[0]:.2f} s, after every "
            "download had finished: the stream collected the pages first (download_all, "
            "asyncio.gather, a list) and yielded them only then, so the consumer waited for "
            "the slowest one."
        )
    elif at[0] > high:
        verdict = f"the first page came out of the stream only at {at[0]:.2f} s."
    else:
        verdict = (
            f"the first page came out after only {at[0]:.2f} s, before any download could "
            "have finished."
        )
    fail(
        f"`async for` over {STREAM}: {verdict}\nExpected: 'page small' about "
        f"{scaled(fastest):.2f} s after the start, as soon as it is in (between {low:.2f} s and "
        f"{high:.2f} s).\nTry: {YIELD_AS_COMPLETED}\n\n{timeline.draw()}"
    )


@pytest.mark.stage(2)
async def test_closing_the_stream_early_cancels_the_downloads_still_running(
    downloads: Downloads,
) -> None:
    timeline = downloads.timeline
    stream = open_stream(downloads)
    first = await anext(stream)
    timeline.mark(f"got {first!r}, then aclose()")
    closing: BaseExceptionGroup[BaseException] | None = None
    try:
        await stream.aclose()  # the consumer stops after the first page
    except BaseExceptionGroup as error:
        closing = error
    call = f"{STREAM}, closed with aclose() after its first page ({first!r}):"
    if closing is not None:  # outside `except`, so the failure shows this explanation once
        fail(
            f"{call} aclose() raised {closing!r}. Closing a stream raises GeneratorExit "
            "at its `yield`; a `yield` inside a TaskGroup turns that into an error of the "
            "group, so every consumer that stops early gets an exception.\n"
            "Likely mistake: a yield inside a TaskGroup. In a generator, never yield inside a "
            "TaskGroup or an asyncio.timeout block.\n"
            f"Try: {YIELD_AS_COMPLETED}\n\n{timeline.draw()}"
        )
    slower = [f"fetch {url}" for url in URLS if f"page {url[1:]}" != first]
    spans = [s for s in timeline.spans if s.label in slower]
    running = [s for s in spans if s.end is None]
    finished = [s for s in spans if s.end is not None and not s.cancelled]
    if len(spans) < len(slower):
        problem = (
            "the other downloads were never started: a stream starts every download at once, "
            "before it yields the first page."
        )
    elif running and all(s.task is not None and s.task.cancelling() for s in running):
        problem = (
            f"{' and '.join(s.label for s in running)} had been asked to cancel, but were still "
            "running when aclose() returned: task.cancel() only requests the cancellation, and "
            "the task stops later, at its next await.\n"
            "Likely mistake: cancel() in the finally without awaiting the cancelled tasks."
        )
    elif running:
        problem = (
            f"{' and '.join(s.label for s in running)} were still running after the stream was "
            "closed: the consumer is gone, but the downloads the stream started go on behind "
            "its back.\nClosing a stream raises GeneratorExit at its `yield`: a try/finally "
            "around the loop is where the stream cleans up."
        )
    elif finished:
        problem = (
            f"{' and '.join(s.label for s in finished)} ran to their end: closing the stream "
            "waited for downloads nobody will read instead of cancelling them."
        )
    else:
        return
    fail(
        f"{call} {problem}\nExpected: the downloads still running cancelled, and stopped by "
        f"the time aclose() returns.\nTry: {YIELD_AS_COMPLETED}\n\n{timeline.draw()}"
    )


@pytest.mark.stage(2)
async def test_a_consumer_cancelled_mid_stream_leaves_no_download_running(
    downloads: Downloads,
) -> None:
    async def read_the_stream() -> None:
        async for page in open_stream(downloads):
            downloads.timeline.mark(f"got {page!r}")

    await cancel_midway(
        read_the_stream(),
        after=0.15,  # 'page small' is out, '/medium' and '/big' are still on their way
        what=f"a consumer reading `async for page in {STREAM}`",
        timeline=downloads.timeline,
    )


@pytest.mark.stage(2)
async def test_a_failed_download_ends_the_stream_with_the_others_stopped(
    timeline: Timeline,
) -> None:
    downloads = Downloads(timeline, failing="/medium")
    what = f"`async for` over {STREAM}".replace("'/medium' 0.2 s", "'/medium' fails at 0.2 s")
    pages: list[str] = []
    try:
        async with contextlib.aclosing(open_stream(downloads)) as stream:
            async for page in stream:
                pages.append(page)
    except Exception as raised:
        running = [s.label for s in timeline.spans if s.end is None]  # before any await
        error = raised
    else:
        fail(
            f"{what} ended normally after {pages}: the ConnectionError of '/medium' never "
            "reached the consumer.\nExpected: the stream raises that error.\n\n" + timeline.draw()
        )
    if not isinstance(error, ConnectionError) and (
        not isinstance(error, ExceptionGroup) or error.subgroup(ConnectionError) is None
    ):
        fail(f"{what} raised {error!r}, expected the ConnectionError of '/medium'.")
    if running:
        fail(
            f"{what} raised {error!r}, but {' and '.join(running)} {were(running)} still running "
            "when the stream raised: nobody will read that page, and nothing stops it now.\n"
            "Expected: when a download fails, the downloads still running are cancelled, and "
            "have stopped before the error reaches the consumer.\n"
            f"Try: {YIELD_AS_COMPLETED}\n\n{timeline.draw()}"
        )
    timeline.expect_none_ran_on(timeline.span("fetch /medium"), what, YIELD_AS_COMPLETED)


class BarBroken(Exception):
    """What on_progress raises when the progress bar is gone."""


class Downloads:
    """fetch() and on_progress() for download_all, on the timeline; notes when each report came."""

    def __init__(self, timeline: Timeline, failing: str = "", broken: str = "") -> None:
        self.timeline = timeline
        self.failing = failing  # the url whose download fails with ConnectionError, if any
        self.broken = broken  # the page whose report makes on_progress raise, if any
        self.broke = BarBroken("the progress bar's window was closed")
        self.fetched: list[str] = []
        self.reports: list[object] = []  # what on_progress got, in the order it got it
        self.reported_at: list[float] = []  # when, on the timeline's clock
        self.called_at = 0.0

    async def fetch(self, url: str) -> str:
        self.fetched.append(url)
        error = ConnectionError(f"{url}: connection reset") if url == self.failing else None
        page = await self.timeline.work(f"fetch {url}", DELAYS[url], f"page {url[1:]}", error=error)
        return str(page)

    def on_progress(self, page: str) -> None:
        self.reports.append(page)
        self.reported_at.append(self.timeline.now())
        self.timeline.mark(f"on_progress({page!r})")
        if page == self.broken:
            raise self.broke

    async def download_all(self, urls: list[str] = URLS) -> list[str]:
        self.called_at = self.timeline.now()
        pages = await as_completed.download_all(self.fetch, urls, self.on_progress)
        if sorted(self.fetched) != sorted(urls):
            fail(
                f"{download_call(urls)} fetched {self.fetched}, expected each of {urls} exactly "
                "once.\n"
                "Try: call fetch(url) once for every url, and await every download you start."
            )
        return pages


@pytest.fixture
def downloads(timeline: Timeline) -> Downloads:
    return Downloads(timeline)
