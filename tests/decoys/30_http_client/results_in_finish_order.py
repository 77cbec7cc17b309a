"""Collects each Result as its request finishes (asyncio.as_completed), so the order is lost.

caught by: test_the_results_come_back_in_the_order_of_the_urls
says: not the order in which the requests finished
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

        results = []
        for next_done in asyncio.as_completed([fetch_one(url) for url in urls]):
            results.append(await next_done)
    return results
