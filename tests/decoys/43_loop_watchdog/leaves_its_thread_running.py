"""Starts the watchdog thread as a daemon and never stops it: it dies with the program.

caught by: test_the_watchdog_leaves_nothing_running_after_the_block
says: still alive
"""

import asyncio
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self, cast

# What asyncio's debug mode logs after a step that held the loop too long (base_events.py).
SLOW_STEP = "Executing %s took %.3f seconds"
# A task's step is logged as the task itself: "<Task pending name='resize' coro=<...>>".
TASK_NAME = re.compile(r"<Task .*?name='(.*?)'")


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
        self._loop = asyncio.get_running_loop()
        # Debug mode times every step of the loop and logs the slow ones: listen to that log.
        self._saved = self._loop.get_debug(), self._loop.slow_callback_duration
        self._loop.set_debug(True)
        self._loop.slow_callback_duration = self.threshold
        logging.getLogger("asyncio").addFilter(self._on_record)
        # Stage 2: a heartbeat in the loop, and a thread that looks at the loop's thread
        # whenever the heartbeat is late (the loop is held, so only another thread can look).
        self._where = ""
        self._beat = time.monotonic()
        self._heart = asyncio.create_task(self._heartbeat(), name="watchdog heartbeat")
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, args=(threading.get_ident(),), daemon=True
        )
        self._thread.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop watching, and leave the loop as it was found."""
        # Stop the heartbeat (a daemon thread ends with the program).
        self._heart.cancel()
        # Leave the loop as it was found.
        logging.getLogger("asyncio").removeFilter(self._on_record)
        debug, self._loop.slow_callback_duration = self._saved
        self._loop.set_debug(debug)
        # Then wait for the heartbeat to end (all is put back even if this wait is cancelled).
        await asyncio.wait({self._heart})

    def _on_record(self, record: logging.LogRecord) -> bool:
        """A filter on asyncio's logger: every slow step it reports becomes a Stall."""
        if record.msg == SLOW_STEP and isinstance(record.args, tuple):
            step, seconds = str(record.args[0]), cast(float, record.args[1])
            task = TASK_NAME.match(step)
            self.stalls.append(Stall(seconds, task[1] if task else step, self._where))
            self._where = ""
        return True  # the record still goes to the log as usual

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(self.threshold / 10)

    def _watch(self, loop_thread: int) -> None:
        """The watchdog thread: while the heartbeat is late, note what the loop's thread runs."""
        looked_at = None  # the last beat before the stall the thread has looked at
        while not self._closing.wait(self.threshold / 10):
            beat = self._beat
            # One look per stall, the first: a later one may come after the stall has ended.
            if time.monotonic() - beat > self.threshold and beat != looked_at:
                looked_at = beat
                frame = sys._current_frames().get(loop_thread)  # its innermost frame
                if frame is not None:
                    code = frame.f_code
                    self._where = f"{code.co_name} ({Path(code.co_filename).name}:{frame.f_lineno})"
