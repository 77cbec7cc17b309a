"""Stops when depth > max_depth instead of when depth == max_depth: one level too deep.

caught by: test_the_crawl_returns_the_page_graph
says: off by one
"""

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp


@dataclass
class Crawl:
    """What a crawl found: the page graph, the broken links, and whether time ran out."""

    pages: dict[str, list[str]] = field(default_factory=dict)  # page URL -> the links on it
    broken: set[str] = field(default_factory=set)  # URLs that answered an error or no page
    timed_out: bool = False  # True when the deadline stopped the crawl


def links_in(html: str, base: str) -> list[str]:
    """The absolute URLs of the `<a href="...">` links in `html`, in page order, each once.

    Given, not part of the exercise: relative links are resolved against `base` (the URL of
    the page) and `#fragments` are dropped, so the same page always has the same URL.

    >>> links_in('<a href="/about">About</a>', "http://127.0.0.1:8080/")
    ['http://127.0.0.1:8080/about']
    """
    found = (urljoin(base, href) for href in re.findall(r'<a\s[^>]*href="([^"]*)"', html))
    return list(dict.fromkeys(urldefrag(url).url for url in found))


async def crawl(start: str, *, max_depth: int, per_host: int, deadline: float) -> Crawl:
    """Crawl from `start`, level by level, and return the page graph found before `deadline`.

    The start page is depth 0, the pages it links to depth 1, and so on: fetch every page of a
    level before the first page of the next one, and no page deeper than `max_depth`. Fetch
    each page once, however many links lead to it. At most `per_host` requests to one host
    (the `host:port` of the URL) are in flight at a time. A page that answers an error status
    (404, 500) or cannot be fetched goes into `broken`, and the crawl goes on. When `deadline`
    seconds have passed, stop every request in flight and return what was crawled so far,
    with `timed_out=True`.

    >>> asyncio.run(crawl("http://127.0.0.1:8080/", max_depth=1, per_host=2, deadline=5))
    Crawl(pages={'http://127.0.0.1:8080/': ['http://127.0.0.1:8080/about'],
                 'http://127.0.0.1:8080/about': []}, broken=set(), timed_out=False)
    """
    result = Crawl()
    # One semaphore per host, made the first time the host is seen.
    slots: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))

    async def visit(session: aiohttp.ClientSession, url: str) -> None:
        # Hold the host's slot for the whole request, body included.
        async with slots[urlsplit(url).netloc]:
            try:
                async with session.get(url) as response:
                    if not response.ok:
                        result.broken.add(url)
                        return
                    html, found_at = await response.text(), str(response.url)
            except aiohttp.ClientError:
                # A broken link is a result, not a reason to stop the crawl.
                result.broken.add(url)
                return
        # Under the URL that was linked; its relative links start from where the page was.
        result.pages[url] = links_in(html, found_at)

    seen = {start}
    level = [start]
    try:
        # One deadline for the whole crawl; leaving the session closes every connection.
        async with asyncio.timeout(deadline), aiohttp.ClientSession() as session:
            depth = 0
            while level:
                # Every page of this level at once; the semaphores keep each host polite.
                async with asyncio.TaskGroup() as tg:
                    for url in level:
                        tg.create_task(visit(session, url))
                # The next level: the web links on this level's pages that were never seen
                # (a mailto: or javascript: link is no page to fetch).
                found = [link for url in level for link in result.pages.get(url, [])]
                web = [link for link in found if urlsplit(link).scheme in ("http", "https")]
                level = [link for link in dict.fromkeys(web) if link not in seen]
                seen.update(level)
                if depth > max_depth:
                    break
                depth += 1
    except TimeoutError:
        # The TaskGroup cancelled the requests in flight: keep what was crawled.
        result.timed_out = True
    return result
