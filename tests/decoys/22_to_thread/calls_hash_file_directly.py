"""Calls hash_file(path) right in the coroutine, so each blocking call freezes the event loop.

caught by: test_the_loop_keeps_ticking_while_the_files_are_hashed
says: the event loop was blocked
"""

from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    return [hash_file(path) for path in paths]
