"""Awaits asyncio.to_thread for each file in a for loop: the loop is free, but one file at a time.

caught by: test_limit_files_are_read_at_the_same_time
says: one at a time
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:

    def sha256_of(path: Path) -> str:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    slots = asyncio.Semaphore(limit)
    digests = {}
    for path in paths:
        async with slots:
            digests[path] = await asyncio.to_thread(sha256_of, path)
    return digests
