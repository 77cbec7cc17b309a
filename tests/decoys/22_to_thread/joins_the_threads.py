"""Starts a threading.Thread per file and join()s them: the threads overlap, join blocks the loop.

caught by: test_the_hashes_come_back_in_the_order_of_the_paths
says: thread.join() was called on the event loop's thread
"""

import threading
from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    hashes = [""] * len(paths)

    def hash_one(i: int, path: str) -> None:
        hashes[i] = hash_file(path)

    threads = [threading.Thread(target=hash_one, args=(i, p)) for i, p in enumerate(paths)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return hashes
