"""Writes asyncio.to_thread(hash_file(path)), which calls hash_file first, on the loop itself.

caught by: test_the_hashes_come_back_in_the_order_of_the_paths
says: asyncio.to_thread(hash_file(path))
"""

import asyncio
from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    return await asyncio.gather(*(asyncio.to_thread(hash_file(path)) for path in paths))
