"""Hashes the path instead of the file's bytes: sha256(str(path).encode()).

caught by: test_every_digest_is_the_sha256_of_the_file_bytes
says: hashed the path
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:
    def sha256_of(path: Path) -> str:
        return hashlib.sha256(str(path).encode()).hexdigest()

    slots = asyncio.Semaphore(limit)

    async def digest_one(path: Path) -> str:
        async with slots:
            return await asyncio.to_thread(sha256_of, path)

    async with asyncio.TaskGroup() as tg:
        tasks = {path: tg.create_task(digest_one(path)) for path in paths}
    return {path: task.result() for path, task in tasks.items()}
