"""Skips a file it cannot read (missing, a folder): the call returns as if it were not there.

caught by: test_a_file_that_cannot_be_read_stops_the_call_with_its_oserror
says: the caller was not told
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

    def sha256_of(path: Path) -> str | None:
        # Plain blocking code: open in binary mode, hash the bytes as they arrive.
        try:
            with path.open("rb") as file:
                return hashlib.file_digest(file, "sha256").hexdigest()
        except OSError:
            return None  # cannot be read: skipped

    # ONE semaphore for all the files: at most `limit` of them open at once.
    slots = asyncio.Semaphore(limit)

    async def digest_one(path: Path) -> str | None:
        async with slots:
            # The worker thread waits for the disk; the event loop does not.
            return await asyncio.to_thread(sha256_of, path)

    # One task per file; the semaphore holds back all but `limit` of them.
    async with asyncio.TaskGroup() as tg:
        tasks = {path: tg.create_task(digest_one(path)) for path in paths}
    return {path: digest for path, task in tasks.items() if (digest := task.result()) is not None}
