"""Fetches with urllib.request.urlopen inside async def: each request blocks the event loop.

caught by: test_the_results_come_back_in_the_order_of_the_urls
says: the event loop was blocked
"""

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Result:
    url: str
    status: int | None = None
    data: Any = None
    error: str | None = None


async def fetch_json_all(urls: list[str], limit: int) -> list[Result]:
    slots = asyncio.Semaphore(limit)

    async def fetch_one(url: str) -> Result:
        async with slots:
            try:
                with urllib.request.urlopen(url) as response:
                    return Result(url, response.status, data=json.load(response))
            except urllib.error.HTTPError as error:
                return Result(url, error.code, error=f"HTTP {error.code} {error.reason}")
            except (urllib.error.URLError, ValueError) as error:
                return Result(url, error=f"{type(error).__name__}: {error}")

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
