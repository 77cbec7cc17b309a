"""Kata 43: a blocked loop: a watchdog that names what held it."""

import asyncio
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self, cast


@dataclass(frozen=True)
class Stall:
    """One time the event loop was held longer than the watchdog's threshold."""

    seconds: float  # how long the loop was held
    culprit: str  # what held it: the task's name, or the callback
    where: str = ""  # stage 2: the function and line that ran meanwhile, "f (file.py:12)"


class Watchdog:
    """While open, reports every stall: a step that holds the loop for `threshold` s or more.

    async with Watchdog(threshold=0.1) as dog:
        ...  # the program, as usual
    dog.stalls  # [Stall(seconds=0.3, culprit='resize-images', where='resize (images.py:12)')]

    On exit it leaves the loop as it found it: nothing it started still runs, and the loop's
    debug settings are back to what they were.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.stalls: list[Stall] = []

    async def __aenter__(self) -> Self:
        """Start watching the loop."""
        raise NotImplementedError(
            "write Watchdog: while open, report each step that holds the loop for `threshold` "
            "seconds or more as a Stall(seconds, culprit) in self.stalls"
        )

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop watching, and leave the loop as it was found."""
