"""Uses an executor of its own with max_workers=1: its one thread hashes one file at a time.

caught by: test_the_four_files_are_hashed_at_the_same_time
says: with max_workers=1 its one thread runs one call at a time
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return await asyncio.gather(*(loop.run_in_executor(pool, hash_file, p) for p in paths))
