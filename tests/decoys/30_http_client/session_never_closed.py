"""Creates the ClientSession without `async with` and never closes it: its connections leak.

caught by: test_the_results_come_back_in_the_order_of_the_urls
says: never closed
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Result:
    url: str
    status: int | None = None
    data: Any = None
    error: str | None = None


async def fetch_json_all(urls: list[str], limit: int) -> list[Result]:
    session = aiohttp.ClientSession()
    slots = asyncio.Semaphore(limit)

    async def fetch_one(url: str) -> Result:
        status = None
        try:
            async with slots, session.get(url) as response:
                status = response.status
                if not response.ok:
                    return Result(url, status, error=f"HTTP {status} {response.reason}")
                return Result(url, status, data=await response.json())
        except (aiohttp.ClientError, ValueError) as error:
            return Result(url, status, error=f"{type(error).__name__}: {error}")

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
