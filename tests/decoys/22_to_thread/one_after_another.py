"""Awaits each asyncio.to_thread call before starting the next, so the files take turns.

caught by: test_the_four_files_are_hashed_at_the_same_time
says: each call was started only once the previous one had returned
"""

import asyncio
from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    hashes = []
    for path in paths:
        hashes.append(await asyncio.to_thread(hash_file, path))
    return hashes
