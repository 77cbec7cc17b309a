"""Creates the semaphore inside each request, so every request has its own and none ever waits.

caught by: test_never_more_than_limit_requests_at_once
says: a semaphore created inside each request
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
    async with aiohttp.ClientSession() as session:

        async def fetch_one(url: str) -> Result:
            status = None
            try:
                async with asyncio.Semaphore(limit), session.get(url) as response:
                    status = response.status
                    if not response.ok:
                        return Result(url, status, error=f"HTTP {status} {response.reason}")
                    return Result(url, status, data=await response.json())
            except (aiohttp.ClientError, ValueError) as error:
                return Result(url, status, error=f"{type(error).__name__}: {error}")

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
