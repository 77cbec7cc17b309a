"""Gathers the requests in batches of `limit`, so each batch waits for its slowest request.

caught by: test_the_next_request_starts_as_soon_as_one_finishes
says: in batches
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
                async with session.get(url) as response:
                    status = response.status
                    if not response.ok:
                        return Result(url, status, error=f"HTTP {status} {response.reason}")
                    return Result(url, status, data=await response.json())
            except (aiohttp.ClientError, ValueError) as error:
                return Result(url, status, error=f"{type(error).__name__}: {error}")

        results: list[Result] = []
        for start in range(0, len(urls), limit):
            batch = urls[start : start + limit]
            results += await asyncio.gather(*(fetch_one(url) for url in batch))
    return results
