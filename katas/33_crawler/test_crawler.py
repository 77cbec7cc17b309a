from __future__ import annotations

import asyncio
import itertools
import time
import types
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import aiohttp
import crawler
import pytest
from aiohttp import web
from harness import (
    EARLY,
    MARGIN,
    Timeline,
    cancel_midway,
    collect_garbage,
    scaled,
    wall_clock,
)
from servers import HttpServer, Request

PAGE = 0.1  # seconds every page takes to serve
PER_HOST = 2
# The site, on two hosts: "A/a1" is the page /a1 of host A. Each page lists the pages it links to.
SITE = {
    "A/": ["A/a1", "A/a2", "A/a3", "B/b1", "B/b2", "B/b3"],  # depth 0: the start page
    "A/a1": ["A/a4", "A/"],  # depth 1 (a loop back to the start)
    "A/a2": ["A/missing", "B/b1"],  # a broken link (404), and b1 again
    "A/a3": ["A/a3", "A/a5"],  # a link to itself
    "B/b1": ["B/b4", "A/a4"],  # a4 again, in the same level
    "B/b2": ["B/b5"],
    "B/b3": ["A/"],
    "A/a4": ["A/a6"],  # depth 2
    "A/a5": ["A/"],
    "B/b4": ["B/b6"],
    "B/b5": ["A/a1"],
    "A/a6": [],  # depth 3: beyond max_depth=2
    "B/b6": [],
}
LEVELS = [
    ["A/"],
    ["A/a1", "A/a2", "A/a3", "B/b1", "B/b2", "B/b3"],
    ["A/a4", "A/missing", "A/a5", "B/b4", "B/b5"],
]
BROKEN, BEYOND = "A/missing", ["A/a6", "B/b6"]
OFF_BY_ONE = (
    "An off by one: the start page is depth 0, so max_depth=2 means three levels (0, 1 and 2), "
    "and the links found on depth 2 are recorded but not fetched.\n"
    "Try: fetch the levels 0 to max_depth: `for depth in range(max_depth + 1)`."
)
# B/hub is 2 links away through the slow page, 3 through the fast ones: B/leaf is at depth 3.
SHORTCUT = {
    "A/": ["A/fast", "B/slow"],
    "A/fast": ["A/next"],
    "A/next": ["B/hub"],
    "B/slow": ["B/hub"],
    "B/hub": ["B/leaf"],
    "B/leaf": ["A/"],
}
# B/slow (1 s) is at depth 2 and still loading at the deadline (0.5 s); the rest is done by 0.3 s.
TIMED = {
    "A/": ["A/a1", "B/b1"],
    "A/a1": ["B/slow", "A/a2"],
    "B/b1": ["A/"],
    "B/slow": ["A/"],
    "A/a2": ["A/"],
}
SLOW, DEADLINE = 1.0, 0.5
# A/crash's server closes the connection without an answer (it crashed).
CRASHING = {"A/": ["A/crash", "A/a1"], "A/crash": [], "A/a1": ["A/a2"], "A/a2": []}
# Links that are no page to fetch (a mail address, a script, the page's own top), and a link
# that moved: A/old redirects to A/docs/new, whose link "next" is relative (A/docs/next).
ODD = {
    "A/": ["A/old", "mailto:webmaster@example.com", "javascript:void(0)", "#top", "B/b1"],
    "A/docs/new": ["next"],
    "A/docs/next": [],
    "B/b1": [],
}
MOVED = {"A/old": "A/docs/new"}
NOT_PAGES = ["mailto:webmaster@example.com", "javascript:void(0)"]

Servers = Callable[[Iterable[web.AbstractRouteDef]], HttpServer]  # the http_server fixture


async def test_the_crawl_returns_the_page_graph(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    found = await site.crawl()
    graph = site.graph(found)
    expected = {name: SITE[name] for level in LEVELS for name in level if name != BROKEN}
    if graph == expected and not found.timed_out:
        return
    missing = sorted(expected.keys() - graph.keys())
    extra = sorted(graph.keys() - expected.keys())
    wrong = [name for name in expected.keys() & graph.keys() if graph[name] != SITE[name]]
    problems = []
    if missing:
        problems.append(f"pages missing from result.pages: {missing}")
    beyond = [name for name in extra if name in BEYOND]
    if beyond:
        problems.append(
            f"pages in result.pages that are 3 links from the start, deeper than max_depth=2: "
            f"{beyond}"
        )
    if other := [name for name in extra if name not in BEYOND]:
        problems.append(
            f"pages in result.pages that do not belong there: {other} (a page that answers "
            "404 goes into result.broken)"
        )
    problems += [f"{name} has the links {graph[name]}, expected {SITE[name]}" for name in wrong]
    if found.timed_out:
        problems.append("timed_out=True, yet the crawl needs about 0.4 s and had 3 s")
    listing = "\n".join(f"  {name}: {links}" for name, links in expected.items())
    fail(
        "the Crawl it returned is not the site's page graph:\n  "
        + "\n  ".join(problems)
        + "\nExpected result.pages: each page up to depth 2 that answered, its URL -> the links "
        f"links_in(html, url) finds on it:\n{listing}" + (f"\n{OFF_BY_ONE}" if beyond else ""),
        site,
    )


async def test_a_broken_link_is_reported_and_the_crawl_goes_on(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    found = await site.crawl()  # raising (one 404 stopping the crawl) fails here
    broken = {site.name(url) for url in found.broken}
    pages = site.graph(found).keys()
    if broken == {BROKEN} and BROKEN not in pages and "A/a5" in pages:
        return
    fail(
        f"returned broken={sorted(broken)} and pages for {sorted(pages)}.\n"
        f"Expected: broken={[BROKEN]} (it answers 404 Not Found), not among the pages, and the "
        "crawl going on past it (A/a5, its neighbour at depth 2, crawled).\n"
        "Try: a page whose response is not ok (response.ok is False) goes into result.broken "
        "instead of result.pages.",
        site,
    )


async def test_every_page_is_requested_exactly_once_despite_the_loops(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    await site.crawl()
    requested = site.requested()
    again = {
        name: requested.count(name)
        for name in dict.fromkeys(requested)
        if requested.count(name) > 1
    }
    if not again:
        return
    if again.keys() == {"A/a4"}:
        mistake = (
            "A/a4 is linked from two pages of the same level (A/a1 and B/b1): it was fetched "
            "twice because the crawler remembers the pages it has fetched, not the ones it has "
            "already scheduled.\nTry: add a link to your `seen` set the moment you put it in the "
            "next level, and skip the links already in it."
        )
    else:
        mistake = (
            "the links loop back (A/a1 -> A/, B/b3 -> A/, A/a3 -> itself) and the crawler does "
            "not remember what it has seen, so it fetches the same pages again and again.\n"
            "Try: a `seen` set of URLs, the start URL in it from the beginning; put a link into "
            "the next level only if it is not in `seen`, and add it then."
        )
    listing = ", ".join(f"{name} {count} times" for name, count in again.items())
    fail(f"the site received some requests more than once: {listing}.\n{mistake}", site, draw=True)


async def test_a_server_that_hangs_up_is_a_broken_link_and_the_crawl_goes_on(
    http_server: Servers,
) -> None:
    site = Site(http_server, CRASHING)
    found = await site.crawl()  # raising (one hang-up stopping the crawl) fails here
    broken = {site.name(url) for url in found.broken}
    pages = sorted(site.graph(found))
    if broken == {"A/crash"} and pages == ["A/", "A/a1", "A/a2"]:
        return
    fail(
        f"returned broken={sorted(broken)} and pages for {pages}.\n"
        "Expected: broken=['A/crash'] (its server closed the connection without an answer) "
        "and the crawl going on past it: pages for ['A/', 'A/a1', 'A/a2'].\n"
        "Try: catch aiohttp.ClientError around the request of each page (a connection that "
        "fails or hangs up raises one) and put that URL in result.broken.",
        site,
    )


async def test_only_web_links_are_crawled_and_a_redirect_is_followed(
    http_server: Servers,
) -> None:
    site = Site(http_server, ODD, redirects=MOVED)
    found = await site.crawl()
    graph, broken = site.graph(found), {site.name(url) for url in found.broken}
    expected = {
        "A/": ["A/old", *NOT_PAGES, "A/", "B/b1"],
        "A/old": ["A/docs/next"],
        "B/b1": [],
        "A/docs/next": [],
    }
    if graph == expected and not broken:
        return
    not_pages = sorted(broken & set(NOT_PAGES))
    moved = graph.get("A/old")
    if not_pages:
        mistake = (
            f"{not_pages} are in result.broken, yet they are no web pages: a link checker "
            "would report every mail address and script of the site as broken. A crawler "
            "fetches http and https links only; the others stay among the links of their page, "
            "neither fetched nor broken (aiohttp refuses them with NonHttpUrlClientError, "
            "before any request).\n"
            "Try: put into the next level only the links whose `urlsplit(link).scheme` is "
            "'http' or 'https'."
        )
    elif "A/docs/new" in graph and moved is None:
        mistake = (
            "the page A/old led to is recorded under A/docs/new, the URL the redirect led to, "
            "so the start page links to A/old, which is neither a page nor broken.\n"
            "Try: record each page under the URL that was linked, the one you fetched: "
            "`result.pages[url]`."
        )
    elif moved == ["A/next"]:
        mistake = (
            "A/old has the links ['A/next']: the relative link 'next' of the page it led to "
            "(A/docs/new) was resolved against A/old, the URL that was linked, instead of "
            "the URL the page came from, so the crawler fetched a page that does not exist.\n"
            "Try: `links_in(html, str(response.url))`: after a redirect, response.url is "
            "where the page was found."
        )
    else:
        mistake = (
            f"A/old, which redirects (302) to A/docs/new, gave {moved!r}"
            + (" and is in result.broken" if "A/old" in broken else "")
            + ": a redirect is part of fetching a page, as aiohttp follows it by default.\n"
            "Try: let session.get() follow the redirect, and record the page it led to "
            "under the URL that was linked."
        )
    listing = "\n".join(f"  {name}: {links}" for name, links in expected.items())
    fail(
        f"returned pages for {sorted(graph)} and broken={sorted(broken)}, on a site whose "
        "start page links to a mail address, a script, its own #top and A/old, which "
        f"redirects to A/docs/new: {mistake}\nExpected result.pages, and nothing broken:\n"
        f"{listing}",
        site,
    )


async def test_a_crawl_cancelled_by_its_caller_ends_cancelled(http_server: Servers) -> None:
    site = Site(http_server, TIMED, delays={"B/slow": SLOW})
    call = f"crawl('A/', max_depth=5, per_host={PER_HOST}, deadline={scaled(3.0):g})"
    await cancel_midway(
        crawler.crawl(site.url("A/"), max_depth=5, per_host=PER_HOST, deadline=scaled(3.0)),
        after=1.5 * PAGE,
        what=call,
        timeline=site.timeline,
    )
    open_ = await still_open(site)
    if open_:
        pytest.fail(
            f"{call} was cancelled by its caller and ended, but left {open_} connection(s) to "
            "the site open: its session was not closed on the way out.\n"
            "Try: `async with aiohttp.ClientSession() as session:` around the crawl.",
            pytrace=False,
        )


async def test_pages_up_to_max_depth_are_requested_and_none_beyond(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    await site.crawl(max_depth=2)
    requested = set(site.requested())
    beyond = [name for name in BEYOND if name in requested]
    short = [name for name in LEVELS[2] if name not in requested]
    if not beyond and not short:
        return
    if beyond:
        what = f"it requested {beyond}, which are 3 links from the start: deeper than max_depth=2"
    else:
        what = f"it never requested {short}, which are 2 links from the start: within max_depth=2"
    fail(
        f"{what}.\n{OFF_BY_ONE}",
        site,
        draw=True,
    )


async def test_never_more_than_per_host_requests_to_one_host(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    await site.crawl()
    peaks = {host: peak(server.requests) for host, server in site.hosts.items()}
    if max(peaks.values()) <= PER_HOST:
        return
    fail(
        f"host A had up to {peaks['A']} requests in flight at once, host B {peaks['B']}; "
        f"expected at most per_host={PER_HOST} each: nothing limited the requests to one host "
        "(every page of a level was fetched at once).\n"
        "Try: one asyncio.Semaphore(per_host) per host, in a dict keyed by "
        "urlsplit(url).netloc, and `async with` it around each request.",
        site,
        draw=True,
    )


async def test_requests_to_one_host_run_at_once_not_one_at_a_time(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    await site.crawl()
    peaks = {host: peak(server.requests) for host, server in site.hosts.items()}
    if min(peaks.values()) >= PER_HOST:
        return
    fail(
        f"host A had at most {peaks['A']} request(s) in flight at once, host B {peaks['B']}, "
        f"although per_host={PER_HOST} allows {PER_HOST} each and a level has 3 pages per host: "
        "the pages were fetched one at a time.\n"
        "Likely mistake: awaiting each fetch in a `for` loop: the loop waits for each page "
        "before it starts the next.\n"
        "Try: start every page of a level as a task (asyncio.TaskGroup) and let each task wait "
        "for its host's semaphore.",
        site,
        draw=True,
    )


async def test_each_host_has_its_own_limit(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    await site.crawl()
    both = site.timeline.peak  # both servers record on the test's one timeline
    if both >= 2 * PER_HOST:
        return
    fail(
        f"at most {both} request(s) were in flight at once over both hosts; expected "
        f"{2 * PER_HOST}: {PER_HOST} to host A while {PER_HOST} go to host B.\n"
        "Likely mistake: one limit for all hosts (a single asyncio.Semaphore(per_host), or "
        "aiohttp.TCPConnector(limit=per_host)): then host B waits while host A is busy.\n"
        "Try: a semaphore for each host, e.g. a dict `host -> asyncio.Semaphore(per_host)` "
        "keyed by urlsplit(url).netloc (host:port).",
        site,
        draw=True,
    )


async def test_the_crawl_goes_level_by_level(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    await site.crawl()
    first: dict[str, Request] = {}
    for name, request in site.requests():
        first.setdefault(name, request)
    for depth, (level, deeper) in enumerate(itertools.pairwise(LEVELS)):
        for name in (n for n in deeper if n in first):
            late = first[name]
            for page in level:
                early = first.get(page)
                if early is None or early.start > late.start:
                    fail(
                        f"{name} (depth {depth + 1}) was requested before {page} (depth {depth}) "
                        "had even been requested: that is depth-first, following each link "
                        "down before the rest of its level.\n"
                        "Expected: level by level: the page of depth 0, then every page of "
                        "depth 1, then every page of depth 2.\n"
                        "Try: keep a list of the current level's URLs; fetch them all, collect "
                        "the new links they hold into the next level, repeat.",
                        site,
                        draw=True,
                    )
                if early.end is None or early.end > late.start:
                    fail(
                        f"{name} (depth {depth + 1}) was requested at {late.start:.2f} s while "
                        f"{page} (depth {depth}) was still loading: the next level started "
                        "before this one was finished.\n"
                        "Expected: level by level: every page of a level fetched (as the host "
                        "limits allow) before the first page of the next level.\n"
                        "Try: one TaskGroup per level: its `async with` block ends when all its "
                        "pages are fetched; then build the next level.",
                        site,
                        draw=True,
                    )


async def test_a_page_gets_the_depth_of_its_shortest_path(http_server: Servers) -> None:
    site = Site(http_server, SHORTCUT, delays={"B/slow": 0.5})
    found = await site.crawl(max_depth=3)
    if "B/leaf" in site.requested() and "B/leaf" in site.graph(found):
        return
    fail(
        "B/leaf was never crawled, yet it is 3 links from the start (A/ -> B/slow -> B/hub -> "
        "B/leaf): within max_depth=3.\n"
        "The crawler reached B/hub first by the longer path (A/ -> A/fast -> A/next -> B/hub, "
        "depth 3) while the slow page B/slow was still loading, and gave B/hub that depth, so "
        "its links were past the limit.\n"
        "Likely mistake: each page starts its links as soon as it is fetched (recursive tasks, "
        "or a queue of workers): a page then gets the depth of the path found first, not of its "
        "shortest path.\n"
        "Try: level by level: finish a level before you start the next, so every page is found "
        "first by its shortest path.",
        site,
        draw=True,
    )


async def test_the_crawl_stops_at_the_deadline(http_server: Servers) -> None:
    site = Site(http_server, TIMED, delays={"B/slow": SLOW})
    began = site.timeline.now()
    found = await site.crawl(max_depth=5, deadline=DEADLINE)  # raising TimeoutError fails here
    took = site.took
    low, high = EARLY * scaled(DEADLINE), scaled(DEADLINE) + scaled(MARGIN)
    if took > high:
        gave_up = await hung_up(site, "B/slow")
        slow = next(r for name, r in site.requests() if name == "B/slow")
        if gave_up is None:
            why = (
                f"it waited for the slow page B/slow ({scaled(SLOW):.1f} s) to finish: nothing "
                "stopped the crawl at its deadline.\n"
                "Try: `async with asyncio.timeout(deadline):` around the whole crawl."
            )
        elif gave_up - began > scaled(DEADLINE) + scaled(MARGIN):
            why = (
                f"B/slow was given up {gave_up - slow.start:.2f} s after IT started, not "
                f"{scaled(DEADLINE):.2f} s after the crawl started: the timeout is around each "
                "fetch, so every page gets the whole deadline of its own.\n"
                "Try: ONE `async with asyncio.timeout(deadline):` around the whole crawl."
            )
        else:
            why = "something after the deadline still took time.\nTry: return when it fires."
        fail(
            f"returned after {took:.2f} s; expected at the deadline, {scaled(DEADLINE):.2f} s "
            f"(between {low:.2f} and {high:.2f} s): {why}",
            site,
            draw=True,
        )
    graph, broken = site.graph(found), {site.name(url) for url in found.broken}
    expected = ["A/", "A/a1", "B/b1", "A/a2"]
    if sorted(graph) == sorted(expected) and found.timed_out and not broken and took >= low:
        return
    fail(
        f"returned after {took:.2f} s pages for {sorted(graph)}, broken={sorted(broken)}, "
        f"timed_out={found.timed_out}.\n"
        f"Expected after {scaled(DEADLINE):.2f} s: pages for {sorted(expected)} (all fetched "
        "in time), nothing broken (B/slow was cut off, not broken) and timed_out=True.\n"
        "Try: let the pages record themselves in the Crawl as they arrive, so that what was "
        "fetched before the deadline is there when it fires.",
        site,
        draw=True,
    )


async def test_the_deadline_holds_when_the_system_clock_is_set_forward(
    http_server: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = wall_clock(monkeypatch, crawler)  # time.time() as crawler.py sees it
    # An administrator (or NTP) sets the system clock forward one hour during the crawl.
    site = Site(http_server, SITE)

    async def set_the_clock_forward() -> None:
        await asyncio.sleep(scaled(1.5 * PAGE))
        wall.offset = 3600.0
        site.timeline.mark("system clock set forward 1 h")

    mover = asyncio.create_task(set_the_clock_forward())
    try:
        found = await site.crawl()
    finally:
        mover.cancel()
    if not found.timed_out and len(found.pages) == len(LEVELS[0] + LEVELS[1] + LEVELS[2]) - 1:
        return
    fail(
        f"returned after {site.took:.2f} s with timed_out={found.timed_out} and "
        f"{len(found.pages)} pages, the system clock set forward one hour at "
        f"{scaled(1.5 * PAGE):.2f} s; the crawl needs about 0.4 s and had 3 s, so expected "
        "the whole graph and timed_out=False.\n"
        + (
            f"crawler.py read the wall clock, time.time(), {wall.reads} times: a deadline "
            "on the wall clock jumps with it. Set forward, the deadline passes at once; set "
            "back, it never comes.\n"
            if wall.reads
            else ""
        )
        + "Try: `async with asyncio.timeout(deadline):` around the whole crawl: it reads the "
        "loop's clock, which only moves forward, at its own pace.",
        site,
        draw=True,
    )


async def test_nothing_is_left_running_after_the_deadline(http_server: Servers) -> None:
    site = Site(http_server, TIMED, delays={"B/slow": SLOW})
    await site.crawl(max_depth=5, deadline=DEADLINE)  # a task left running fails here
    if await hung_up(site, "B/slow") is not None:
        return
    fail(
        "returned at the deadline, but the server was still sending B/slow: its request was "
        "never cancelled.\n"
        "Try: asyncio.timeout(deadline) around a TaskGroup: it cancels every fetch in flight.",
        site,
        draw=True,
    )


async def test_one_session_reuses_its_connections_and_closes_them(http_server: Servers) -> None:
    site = Site(http_server, SITE)
    await site.crawl()  # after every crawl, site.crawl() checks that no connection is left open
    used = {host: (server.connections, len(server.requests)) for host, server in site.hosts.items()}
    if all(connections < requests for connections, requests in used.values()):
        return
    fail(
        ", ".join(f"host {h} got {r} requests over {c} connections" for h, (c, r) in used.items())
        + ": every request opened a connection of its own.\n"
        "Likely mistake: a new aiohttp.ClientSession for each page: each session has its own "
        "connection pool, so nothing is reused (and every page pays for a new connection).\n"
        "Expected: one session for the whole crawl, its connections reused from page to page.\n"
        "Try: `async with aiohttp.ClientSession() as session:` once, around the crawl, and pass "
        "`session` to the task of each page.",
        site,
    )


class Site:
    """The pages of `links` served by two real HTTP servers: host A and host B (two ports)."""

    def __init__(
        self,
        http_server: Servers,
        links: dict[str, list[str]],
        delays: dict[str, float] | None = None,
        redirects: dict[str, str] | None = None,
    ) -> None:
        self.links, self.delays = links, delays or {}
        self.redirects = redirects or {}  # page -> the page it redirects to (302)
        self.hosts = {host: http_server(self._routes(host)) for host in "AB"}
        self.timeline = self.hosts["A"].timeline
        self.hung_up: dict[str, float] = {}  # page -> when the client gave up on it
        self.transports: list[Any] = []  # every connection a request came over
        self.call = ""

    def _routes(self, host: str) -> list[web.RouteDef]:
        async def page(request: web.Request) -> web.Response:
            name = host + request.path
            if name in self.redirects:
                raise web.HTTPFound(self.href(host, self.redirects[name]))
            if name not in self.links:
                raise web.HTTPNotFound()
            self.transports.append(request.transport)
            await self._serve(request, name)
            if name.endswith("/crash") and request.transport is not None:
                request.transport.close()  # no answer at all
            body = "".join(f'<a href="{self.href(host, to)}">{to}</a>\n' for to in self.links[name])
            return web.Response(
                text=f"<html><body>\n{body}</body></html>", content_type="text/html"
            )

        return [web.get("/{path:.*}", page)]

    async def _serve(self, request: web.Request, name: str) -> None:
        """Take the page's time, but stop early (and note it) when the client hangs up."""
        loop = asyncio.get_running_loop()
        end = loop.time() + scaled(self.delays.get(name, PAGE))
        while (left := end - loop.time()) > 0:
            if request.transport is None or request.transport.is_closing():
                self.hung_up[name] = self.timeline.now()
                return
            await asyncio.sleep(min(left, 0.01))

    def url(self, name: str) -> str:
        host, path = name.split("/", 1)
        return f"{self.hosts[host].url}/{path}"

    def href(self, host: str, to: str) -> str:
        """A link as the page writes it: a path on its own host, a whole URL to the other;
        anything else ("mailto:...", "#top", a relative "next") as it is."""
        if not to.startswith(("A/", "B/")):
            return to
        return to[1:] if to.startswith(host) else self.url(to)

    def name(self, url: str) -> str:
        for host, server in self.hosts.items():
            if url.startswith(server.url + "/"):
                return host + url[len(server.url) :]
        return url

    def graph(self, found: crawler.Crawl) -> dict[str, list[str]]:
        return {
            self.name(url): [self.name(link) for link in links]
            for url, links in found.pages.items()
        }

    def requests(self) -> list[tuple[str, Request]]:
        """Every request either host received, as (page, request), in the order they started."""
        seen = [(h + r.path, r) for h, server in self.hosts.items() for r in server.requests]
        return sorted(seen, key=lambda pair: pair[1].start)

    def requested(self) -> list[str]:
        return [name for name, _ in self.requests()]

    async def crawl(
        self, start: str = "A/", max_depth: int = 2, deadline: float = 3.0
    ) -> crawler.Crawl:
        """Call the learner's crawl(); fail, explaining, if it raises or leaves anything open."""
        __tracebackhide__ = True
        self.call = (
            f"crawl({start!r}, max_depth={max_depth}, per_host={PER_HOST}, deadline={deadline})"
        )
        before = asyncio.all_tasks()
        began = time.perf_counter()
        error: Exception | None = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                found = await crawler.crawl(
                    self.url(start),
                    max_depth=max_depth,
                    per_host=PER_HOST,
                    deadline=scaled(deadline),
                )
            except NotImplementedError:
                raise
            except Exception as raised:
                error = raised
            self.took = time.perf_counter() - began
            left = [task for task in asyncio.all_tasks() - before if not task.done()]
            open_ = await still_open(self)
            if open_:
                await collect_garbage()  # a session nobody closed warns when it is collected
        unclosed = [str(w.message) for w in caught if str(w.message).startswith("Unclosed")]
        for w in caught:
            if str(w.message) not in unclosed:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if error is not None:
            fail(raised_text(error, self.took), self, draw=True)
        if left:
            fail(
                f"returned after {self.took:.2f} s but left {len(left)} task(s) running: "
                f"{[task.get_name() for task in left]}.\n"
                "Likely mistake: asyncio.wait(tasks, timeout=...) returns the pending tasks but "
                "does not cancel them, or a task created and never awaited.\n"
                "Try: asyncio.timeout(deadline) around a TaskGroup: when the deadline fires, the "
                "TaskGroup cancels every task and waits for them before the timeout raises.",
                self,
                draw=True,
            )
        if open_ or unclosed:
            fail(
                (
                    f"returned with {open_} connection(s) to the site still open"
                    if open_
                    else "returned"
                )
                + ": the aiohttp.ClientSession was not closed, so its pooled connections were "
                "left to the garbage collector"
                + (f" (aiohttp warns: {unclosed[0]})" if unclosed else "")
                + ".\nTry: `async with aiohttp.ClientSession() as session:` around the crawl: "
                "leaving the block closes the session and every connection.",
                self,
            )
        return found

    def legend(self) -> str:
        a, b = self.hosts["A"].url, self.hosts["B"].url
        return f"(A/x is the page {a}/x on host A, B/x the page {b}/x on host B)"


def peak(requests: Iterable[Request]) -> int:
    """The most requests in flight at once (server side)."""
    events = sorted(
        [(r.start, 1) for r in requests] + [(r.end or float("inf"), -1) for r in requests]
    )
    in_flight = most = 0
    for _, step in events:
        in_flight += step
        most = max(most, in_flight)
    return most


async def still_open(site: Site) -> int:
    """How many connections to the site stay open (the server notices a close within ms)."""
    for _ in range(20):
        open_ = {id(t) for t in site.transports if t is not None and not t.is_closing()}
        if not open_:
            break
        await asyncio.sleep(scaled(0.01))
    return len(open_)


async def hung_up(site: Site, name: str) -> float | None:
    """When the client gave up on page `name`, waiting a moment for the server to notice."""
    for _ in range(20):
        if name in site.hung_up or any(n == name and r.end for n, r in site.requests()):
            break
        await asyncio.sleep(scaled(0.01))
    return site.hung_up.get(name)


def raised_text(error: Exception, took: float) -> str:
    """What to say when crawl() raised instead of returning a Crawl."""
    if isinstance(error, TimeoutError):
        return (
            f"raised TimeoutError after {took:.2f} s: the deadline stopped the crawl, but "
            "everything found so far was lost with the exception.\n"
            "Expected: a Crawl with the pages fetched in time and timed_out=True.\n"
            "Try: catch TimeoutError around `async with asyncio.timeout(deadline):`, set "
            "timed_out=True, and return the Crawl."
        )
    leaves = []
    pending: list[BaseException] = [error]
    while pending:  # the errors inside (nested) exception groups
        e = pending.pop(0)
        pending += e.exceptions if isinstance(e, BaseExceptionGroup) else []
        leaves += [] if isinstance(e, BaseExceptionGroup) else [e]
    shown = ", ".join(f"{type(e).__name__}({e})" for e in leaves)
    if any(isinstance(e, aiohttp.ClientResponseError) for e in leaves):
        cause = (
            f"{BROKEN} answers 404 Not Found, and raise_for_status() turned the 404 into an "
            "exception that escaped the task of that page"
        )
    elif any(isinstance(e, aiohttp.NonHttpUrlClientError) for e in leaves):
        return (
            f"raised {shown}: a link that is no web page (mailto:, javascript:) was requested, "
            "and aiohttp's refusal escaped the task of that page: the crawl ended and lost "
            "every page found.\n"
            "Expected: such links kept among the links of their page, neither fetched nor "
            "broken.\n"
            "Try: put into the next level only the links whose `urlsplit(link).scheme` is "
            "'http' or 'https'."
        )
    elif any(isinstance(e, aiohttp.ClientError) for e in leaves):
        cause = (
            "a server closed the connection without an answer, and aiohttp's ClientError "
            "escaped the task of that page: a connection error nobody catches"
        )
    else:
        cause = "an error escaped the task of one page"
    return (
        f"raised {shown}: the error of one page ended the crawl and lost every page found.\n"
        f"What happened: {cause}; the TaskGroup then cancels every other fetch and raises.\n"
        "Expected: the URL in result.broken, and the crawl going on.\n"
        "Try: check `response.ok` and catch aiohttp.ClientError inside the task of each page; "
        "record the URL in result.broken and return."
    )


def fail(text: str, site: Site, draw: bool = False) -> NoReturn:
    __tracebackhide__ = True
    chart = f"\n\n{site.timeline.draw()}" if draw else ""
    pytest.fail(f"{site.call}: {text}\n{site.legend()}{chart}", pytrace=False)
