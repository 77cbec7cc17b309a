"""Runs each file in a threading.Thread that hands only its hash to a future: errors never arrive.

caught by: test_a_file_that_fails_to_hash_raises_its_error_out_of_hash_all
says: nothing handed it to hash_all
"""

import asyncio
import threading
from collections.abc import Callable

HashFile = Callable[[str], str]


async def hash_all(paths: list[str], hash_file: HashFile) -> list[str]:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[str]] = []
    for path in paths:
        future: asyncio.Future[str] = loop.create_future()

        def work(path: str = path, future: asyncio.Future[str] = future) -> None:
            result = hash_file(path)

            def deliver() -> None:
                if not future.done():
                    future.set_result(result)

            loop.call_soon_threadsafe(deliver)

        threading.Thread(target=work).start()
        futures.append(future)
    return list(await asyncio.gather(*futures))
