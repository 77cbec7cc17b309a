"""Reads the files in batches of `limit`, one gather per batch: each batch waits for its slowest.

caught by: test_the_next_file_is_opened_as_soon_as_a_slot_is_free
says: in batches of 2
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:
    def sha256_of(path: Path) -> str:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    digests: dict[Path, str] = {}
    for start in range(0, len(paths), limit):
        batch = paths[start : start + limit]
        found = await asyncio.gather(*(asyncio.to_thread(sha256_of, path) for path in batch))
        digests.update(zip(batch, found))
    return digests
