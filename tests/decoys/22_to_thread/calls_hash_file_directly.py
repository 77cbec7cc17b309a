"""Calls hash_file(path) right in the coroutine, so each blocking call freezes the event loop.

caught by: test_the_hashes_come_back_in_the_order_of_the_paths
says: It called hash_file(path) itself, in the coroutine
"""

from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    return [hash_file(path) for path in paths]
