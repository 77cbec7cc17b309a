"""Submits the files to a thread pool and checks every 10 ms whether they are done: polling.

caught by: test_hash_all_awaits_the_threads_without_polling
says: Polling
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    with ThreadPoolExecutor() as pool:
        futures = [pool.submit(hash_file, path) for path in paths]
        while not all(future.done() for future in futures):
            await asyncio.sleep(0.01)
    return [future.result() for future in futures]
