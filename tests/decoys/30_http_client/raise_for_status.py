"""Calls response.raise_for_status() and catches nothing, so one 404 loses every other result.

caught by: test_a_404_and_a_500_are_reported_for_their_url_and_the_others_still_arrive
says: raise_for_status() turned
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
                response.raise_for_status()
                return Result(url, response.status, data=await response.json())

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
