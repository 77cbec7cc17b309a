"""Awaits each request in turn in a for loop: never over the limit, but the delays add up.

caught by: test_the_requests_are_in_flight_together_not_one_after_another
says: did not all run at the same time
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
        for url in urls:
            results.append(await fetch_one(url))
    return results
