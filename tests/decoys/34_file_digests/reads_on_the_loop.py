"""Reads each file with path.read_bytes() right in the coroutine: the loop waits for the disk.

caught by: test_every_digest_is_the_sha256_of_the_file_bytes
says: The event loop was blocked
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:
    slots = asyncio.Semaphore(limit)

    async def digest_one(path: Path) -> str:
        async with slots:
            return hashlib.sha256(path.read_bytes()).hexdigest()

    async with asyncio.TaskGroup() as tg:
        tasks = {path: tg.create_task(digest_one(path)) for path in paths}
    return {path: task.result() for path, task in tasks.items()}
