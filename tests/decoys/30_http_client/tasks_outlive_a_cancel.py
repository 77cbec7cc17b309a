"""Creates a task per URL and awaits them in turn: cancelled, it leaves the other requests running.

caught by: test_a_cancelled_call_stops_its_requests_and_closes_the_session
says: were still running
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

        tasks = [asyncio.create_task(fetch_one(url)) for url in urls]
        return [await task for task in tasks]
