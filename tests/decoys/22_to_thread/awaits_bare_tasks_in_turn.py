"""Starts a bare task per file and awaits them in turn: a cancel leaves the others running.

caught by: test_a_cancelled_hash_all_leaves_no_task_running
says: it had started were still running
"""

import asyncio
from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    tasks = [asyncio.create_task(asyncio.to_thread(hash_file, path)) for path in paths]
    return [await task for task in tasks]
