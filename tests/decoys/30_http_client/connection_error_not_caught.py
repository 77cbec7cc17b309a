"""Catches the JSON error but not a connection error: a server that hangs up loses the batch.

caught by: test_a_server_that_hangs_up_is_reported_for_its_url
says: a connection error nobody catches
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
            except (aiohttp.ContentTypeError, ValueError) as error:
                return Result(url, status, error=f"{type(error).__name__}: {error}")

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
