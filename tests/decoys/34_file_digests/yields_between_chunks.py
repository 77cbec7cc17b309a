"""Reads in chunks on the loop with await asyncio.sleep(0) between them: each read still blocks.

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
            digest = hashlib.sha256()
            with path.open("rb") as file:
                while chunk := file.read(64 * 1024):
                    digest.update(chunk)
                    await asyncio.sleep(0)  # let the other tasks run between chunks
            return digest.hexdigest()

    async with asyncio.TaskGroup() as tg:
        tasks = {path: tg.create_task(digest_one(path)) for path in paths}
    return {path: task.result() for path, task in tasks.items()}
