"""Gathers one asyncio.to_thread per file and never uses the limit: every file is open at once.

caught by: test_never_more_than_limit_files_are_open_at_once
says: nothing limited them
"""

import asyncio
import hashlib
from pathlib import Path


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:

    def sha256_of(path: Path) -> str:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    digests = await asyncio.gather(*(asyncio.to_thread(sha256_of, path) for path in paths))
    return dict(zip(paths, digests))
