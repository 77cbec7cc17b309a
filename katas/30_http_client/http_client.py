"""Kata 30: HTTP client - fetch many JSON endpoints with one shared session, K in flight."""

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Result:
    """What one URL gave: its decoded JSON, or why there is none.

    `status` is the HTTP status the server answered (None if no answer came at all); `data` the
    decoded JSON body of a successful answer; `error` a short text saying what went wrong
    (None on success).
    """

    url: str
    status: int | None = None
    data: Any = None
    error: str | None = None


async def fetch_json_all(urls: list[str], limit: int) -> list[Result]:
    """GET every URL as JSON through ONE aiohttp session, at most `limit` requests in flight.

    The results come back in the order of `urls`. A URL that fails (a 404 or 500 answer, a body
    that is not JSON, no answer) gets a Result with its `error` set; the other URLs still get
    theirs, and the call itself does not raise. The session is closed when the call returns.

    >>> asyncio.run(fetch_json_all(["http://127.0.0.1:8080/a", "http://127.0.0.1:8080/x"], 2))
    [Result(url='http://127.0.0.1:8080/a', status=200, data={'item': '/a'}, error=None),
     Result(url='http://127.0.0.1:8080/x', status=404, data=None, error='HTTP 404 Not Found')]
    """
    raise NotImplementedError(
        "write fetch_json_all(): GET every URL through one aiohttp.ClientSession, "
        "at most `limit` at once, one Result per URL in the order of `urls`"
    )
