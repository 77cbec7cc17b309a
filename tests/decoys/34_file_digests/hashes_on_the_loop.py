"""Reads the bytes in a thread but hashes them in the coroutine: the hashing runs on the loop.

caught by: test_the_bytes_are_hashed_in_the_worker_thread_too
says: ran on the event loop's thread
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:
    """Return the sha256 hex digest of every file's bytes, keyed by the paths given.

    Reading a file blocks (a slow disk, a network share), so every file is read in a worker
    thread, never on the event loop's thread. At most `limit` files are open at once, and as
    many as `limit` are read side by side while files are waiting: four slow files of 0.2 s
    with limit=2 take about 0.4 s.

    >>> asyncio.run(digest_all([Path("empty.txt")], limit=2))
    {PosixPath('empty.txt'): 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'}
    """

    # ONE semaphore for all the files: at most `limit` of them open at once.
    slots = asyncio.Semaphore(limit)

    async def digest_one(path: Path) -> str:
        async with slots:
            # The worker thread waits for the disk; the event loop does not.
            data = await asyncio.to_thread(path.read_bytes)
        return hashlib.sha256(data).hexdigest()

    # One task per file; the semaphore holds back all but `limit` of them.
    async with asyncio.TaskGroup() as tg:
        tasks = {path: tg.create_task(digest_one(path)) for path in paths}
    return {path: task.result() for path, task in tasks.items()}
