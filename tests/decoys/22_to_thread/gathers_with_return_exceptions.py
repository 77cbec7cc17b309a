"""Gathers with return_exceptions=True: the error of a file that fails is returned as its hash.

caught by: test_a_file_that_fails_to_hash_raises_its_error_out_of_hash_all
says: came back as a value
"""

import asyncio
from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    results = await asyncio.gather(
        *(asyncio.to_thread(hash_file, path) for path in paths), return_exceptions=True
    )
    return list(results)  # type: ignore[arg-type]
