"""Keys the digests by str(path) instead of the Path objects it was given.

caught by: test_every_digest_is_the_sha256_of_the_file_bytes
says: a str never equals a Path
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:

    def sha256_of(path: Path) -> str:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    slots = asyncio.Semaphore(limit)

    async def digest_one(path: Path) -> str:
        async with slots:
            return await asyncio.to_thread(sha256_of, path)

    async with asyncio.TaskGroup() as tg:
        tasks = {str(path): tg.create_task(digest_one(path)) for path in paths}
    return {path: task.result() for path, task in tasks.items()}
