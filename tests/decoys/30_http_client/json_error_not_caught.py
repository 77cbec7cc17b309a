"""Checks the status but not the body: a 200 page that is not JSON raises and loses the batch.

caught by: test_a_body_that_is_not_json_is_reported_for_its_url
says: a JSON decode error nobody catches
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
            async with slots, session.get(url) as response:
                if not response.ok:
                    return Result(url, response.status, error=f"HTTP {response.status}")
                return Result(url, response.status, data=await response.json())

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
