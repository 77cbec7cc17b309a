"""Creates the semaphore inside the coroutine that reads one file: each file has its own slots.

caught by: test_never_more_than_limit_files_are_open_at_once
says: Semaphore created per file
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:

    def sha256_of(path: Path) -> str:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    async def digest_one(path: Path) -> str:
        async with asyncio.Semaphore(limit):
            return await asyncio.to_thread(sha256_of, path)

    async with asyncio.TaskGroup() as tg:
        tasks = {path: tg.create_task(digest_one(path)) for path in paths}
    return {path: task.result() for path, task in tasks.items()}
