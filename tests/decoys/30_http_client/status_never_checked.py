"""Never checks the status: a 500 whose body is JSON is taken for a success.

caught by: test_a_404_and_a_500_are_reported_for_their_url_and_the_others_still_arrive
says: the status was never checked
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
                    return Result(url, status, data=await response.json())
            except (aiohttp.ClientError, ValueError) as error:
                return Result(url, status, error=f"{type(error).__name__}: {error}")

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
