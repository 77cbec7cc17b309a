"""Kata 22: to_thread - run a blocking function in worker threads, keep the event loop free."""

import asyncio
from collections.abc import Callable

# hash_file(path) reads a file and returns its hash. It is a plain, BLOCKING function (like
# hashlib over open(path).read(), or a call into a synchronous library): it does not return, and
# lets nothing else run on its thread, until the work is done.
HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    """Hash every file at the same time, each in a worker thread; return the hashes in path order.

    hash_file blocks, so it must never run on the event loop's thread: that would freeze every
    other task until it returns. Four files of 0.1 s each take about 0.1 s, not 0.4 s:

    >>> asyncio.run(hash_all(["a.txt", "b.txt"], hash_file))
    ['hash of a.txt', 'hash of b.txt']
    """
    raise NotImplementedError(
        "write hash_all(): run hash_file(path) for every path in worker threads, all at once"
    )
