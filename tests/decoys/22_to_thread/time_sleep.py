"""Submits the files to a thread pool, then waits for them in a time.sleep polling loop on the loop.

caught by: test_the_hashes_come_back_in_the_order_of_the_paths
says: time.sleep(0.01) was called on the event loop's thread
"""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    with ThreadPoolExecutor() as pool:
        futures = [pool.submit(hash_file, path) for path in paths]
        while not all(future.done() for future in futures):
            time.sleep(0.01)
    return [future.result() for future in futures]
