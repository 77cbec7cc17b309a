from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import file_digests
import pytest
from harness import (
    Span,
    Timeline,
    fail,
    instances_made,
    listed,
    scaled,
    started_tasks,
    swap_in,
    were,
)

SLOW = 0.2  # seconds a slow file takes to deliver its bytes (once it is opened)
PIECES = 4  # ... in this many pieces, one at the start of each quarter
LIMIT = 2
WRITERS = 4  # writer threads of the slow disk: at most this many slow files a test
TICK = 0.01  # the heartbeat: a task that ticks this often while a slow file is read
CRLF = b"one line\r\nanother line\r\n"  # a Windows text file: text mode would change its bytes
BINARY = bytes(range(256)) * 64  # 16 KiB that are not UTF-8


async def test_every_digest_is_the_sha256_of_the_file_bytes(disk: SlowDisk) -> None:
    paths = [
        disk.file("windows.txt", CRLF),
        disk.file("picture.bin", BINARY),
        disk.file("empty.txt", b""),
        disk.slow_file("slow.txt", b"from a slow disk\n" * 100),
    ]
    digests = await digest_all(paths, LIMIT)
    for path in paths:
        content, got = disk.contents[path], digests.get(path)
        expected = sha256(content)
        if got == expected:
            continue
        advice = (
            "open the file in binary mode and hash every byte: "
            "`with path.open('rb') as file: hashlib.file_digest(file, 'sha256').hexdigest()`."
        )
        as_text = next((key for key in (str(path), path.name) if key in digests), None)
        if got is None and as_text is not None:
            mistake = (
                f"its digest is under the key {as_text!r}, a str, and a str never equals a Path: "
                "the dict is keyed by text, not by the paths given."
            )
            advice = "key each digest by the very `path` you read it from."
        elif got is None:
            mistake = f"there is no digest for it at all (the keys are {list(digests)})."
        elif got in (sha256(str(path).encode()), sha256(path.name.encode())):
            mistake = (
                "that is the sha256 of its PATH: the code hashed the path, not the file's bytes."
            )
        elif got == sha256(content.replace(b"\r\n", b"\n")):
            mistake = (
                "that is the sha256 of its bytes with every \\r\\n turned into \\n: the file was "
                "read in text mode, which translates newlines (and decodes, and re-encodes)."
            )
        elif got == sha256(b""):
            mistake = (
                "that is the sha256 of NO bytes: the file was read after its end (read twice, "
                "the first read's bytes thrown away?)."
            )
        else:
            mistake = "that is not the sha256 of its bytes."
        fail(
            f"{digest_call(paths, LIMIT)} gave {path.name} the digest {got!r}; expected "
            f"{expected!r}, hashlib.sha256(<its {len(content)} bytes>).hexdigest(): {mistake}\n"
            f"Try: {advice}"
        )


async def test_the_digests_are_keyed_by_the_paths_given(disk: SlowDisk) -> None:
    paths = [disk.file("a.txt", b"a"), disk.file("b.txt", b"b"), disk.file("c.txt", b"c")]
    digests = await digest_all(paths, LIMIT)
    if set(digests) == set(paths) and len(digests) == len(paths):
        return
    keys = ", ".join(f"{type(key).__name__} {key!r}" for key in digests) or "nothing"
    fail(
        f"{digest_call(paths, LIMIT)} returned a dict keyed by {keys}; expected one key per "
        "path given, the Path objects themselves.\n"
        "Likely mistake: keys made of str(path) or path.name (a str never equals a Path), or a "
        "file left out.\n"
        "Try: key each digest by the very `path` you read it from."
    )


async def test_the_loop_stays_free_while_a_slow_file_is_read(
    disk: SlowDisk, timeline: Timeline
) -> None:
    paths = [disk.slow_file("slow.bin", b"slow bytes\n" * 100)]
    async with timeline.heartbeat(TICK) as ticks:
        await digest_all(paths, LIMIT)
    read = disk.reads.get(paths[0])
    if read is None:
        fail(f"{digest_call(paths, LIMIT)} never opened slow.bin.")
    end = read.end if read.end is not None else timeline.now()
    if sum(read.start < tick < end for tick in ticks) >= 2:
        return
    fail(
        f"{digest_call(paths, LIMIT)}: while slow.bin was read ({end - read.start:.2f} s), a task "
        f"that wanted to tick every {TICK * 1000:.0f} ms barely ticked: the event loop was "
        "blocked, waiting for the disk.\n"
        "Likely mistake: open()/read() (or path.read_bytes()) called in the coroutine itself: "
        "a read blocks the thread that makes it, and that thread is the loop's.\n"
        "Expected: the loop free the whole time.\n"
        "Try: do the blocking reading in a plain function and run it with "
        "`await asyncio.to_thread(sha256_of, path)`.\n\n" + timeline.draw()
    )


async def test_the_loop_stays_free_while_a_slow_file_is_opened(
    disk: SlowDisk, timeline: Timeline
) -> None:
    # On a network share, open() itself can wait for the server: this one takes 0.2 s.
    paths = [disk.slow_file("share.bin", b"on a share\n" * 100, opens_after=SLOW)]
    async with timeline.heartbeat(TICK) as ticks:
        await digest_all(paths, LIMIT)
    read = disk.reads.get(paths[0])
    opened = read.start if read is not None else timeline.now()
    if sum(ticks[0] < tick < opened for tick in ticks) >= 2:
        return
    fail(
        f"{digest_call(paths, LIMIT)}: while share.bin was being opened (its open() took "
        f"{SLOW:.1f} s), a task that wanted to tick every {TICK * 1000:.0f} ms barely ticked: "
        "the event loop was blocked, waiting in open().\n"
        "Expected: the loop free the whole time: open() blocks as a read() does.\n"
        "Try: open the file inside the function that runs in the worker thread "
        "(`with path.open('rb') as file:` inside sha256_of), not in the coroutine.\n\n"
        + timeline.draw()
    )


async def test_the_bytes_are_hashed_in_the_worker_thread_too(
    disk: SlowDisk, hashing: Hashing
) -> None:
    paths = [disk.file("a.bin", BINARY), disk.file("b.bin", BINARY[::-1])]
    loop_thread = threading.get_ident()
    await digest_all(paths, LIMIT)
    on_the_loop = [what for what, thread in hashing.calls if thread == loop_thread]
    if not on_the_loop:
        return
    fail(
        f"{digest_call(paths, LIMIT)}: {on_the_loop[0]} ran on the event loop's thread "
        f"({len(on_the_loop)} hashing call(s) there in all). Hashing is CPU work: for a big "
        "file (a 4 GB backup) that is seconds during which no other task runs.\n"
        "Expected: open, read and hash all in the worker thread; the loop only awaits.\n"
        "Try: one plain function that opens the file and hashes it "
        "(`hashlib.file_digest(file, 'sha256').hexdigest()`), run whole with "
        "`await asyncio.to_thread(sha256_of, path)`."
    )


async def test_never_more_than_limit_files_are_open_at_once(
    disk: SlowDisk, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    semaphores = instances_made(monkeypatch, file_digests, asyncio, "Semaphore", "BoundedSemaphore")
    paths = disk.slow_files(4)
    await digest_all(paths, LIMIT)
    if timeline.peak <= LIMIT:
        return
    made = len(semaphores)
    if made >= len(paths):
        seen = (
            f"{made} asyncio.Semaphore objects were made for {len(paths)} files: a Semaphore "
            "created per file (inside the coroutine that reads one file) has free slots of its "
            "own, so no file ever waits for another."
        )
    elif made == 0 and timeline.peak == len(paths):
        seen = "All of them were open at once, and no semaphore was made: nothing limited them."
    elif made == 1:
        seen = (
            "One semaphore was made, yet more files than its slots were open at once: the "
            "files were opened before they waited for a slot, and held open while waiting."
        )
    else:
        seen = "Some files did not wait for a free slot."
    fail(
        f"{digest_call(paths, LIMIT)}: {timeline.peak} slow files were open at the same time; "
        f"expected at most {LIMIT}.\n{seen}\n"
        "Try: create ONE asyncio.Semaphore(limit) before the tasks, and open, read and close "
        "each file inside `async with` that semaphore: "
        "`async with slots: return await asyncio.to_thread(sha256_of, path)`."
        f"\n\n{timeline.draw()}"
    )


async def test_limit_files_are_read_at_the_same_time(disk: SlowDisk, timeline: Timeline) -> None:
    paths = disk.slow_files(4)
    await digest_all(paths, LIMIT)
    if timeline.peak >= LIMIT:
        return
    fail(
        f"{digest_call(paths, LIMIT)}: only {timeline.peak} slow file was open at a time, although "
        f"the limit allows {LIMIT}: the files were read one at a time, one after another.\n"
        "Likely mistake: `await asyncio.to_thread(...)` inside a for loop (the loop waits for "
        "each file before it starts the next), or one thread reading every file in turn.\n"
        f"Expected: {LIMIT} files read side by side.\n"
        "Try: one task per file (a TaskGroup, or asyncio.gather), each waiting for the shared "
        "semaphore before its to_thread.\n\n" + timeline.draw()
    )


async def test_the_next_file_is_opened_as_soon_as_a_slot_is_free(
    disk: SlowDisk, timeline: Timeline
) -> None:
    paths = [
        disk.slow_file("big.bin", b"a big file\n" * 200, seconds=2 * SLOW),
        disk.slow_file("small1.bin", b"a small file\n" * 50),
        disk.slow_file("small2.bin", b"another small file\n" * 50),
    ]
    await digest_all(paths, LIMIT)
    big, small2 = disk.reads.get(paths[0]), disk.reads.get(paths[2])
    if big is None or small2 is None:
        fail(
            f"{digest_call(paths, LIMIT)} never opened {'big.bin' if big is None else 'small2.bin'}"
            ": every file must be read.\n\n" + timeline.draw()
        )
    if small2.start < (big.end if big.end is not None else timeline.now()):
        return
    mistake = (
        "the files were read one at a time.\nLikely mistake: an `await` per file in a for loop."
        if timeline.peak < LIMIT
        else "the files were read in batches of 2, each batch waiting for its slowest file.\n"
        "Likely mistake: one asyncio.gather per batch of `limit` paths."
    )
    fail(
        f"{digest_call(paths, LIMIT)}: small2.bin was opened only once big.bin ({2 * SLOW:.1f} s) "
        f"was done, although a slot was free from {SLOW:.1f} s on, when small1.bin was done: "
        f"{mistake}\n"
        "Expected: the next file opened the moment any file is done (a sliding window).\n"
        "Try: one task per file, each waiting for a slot of one shared "
        "asyncio.Semaphore(limit): `async with slots: return await asyncio.to_thread(...)`."
        "\n\n" + timeline.draw()
    )


async def test_a_file_that_cannot_be_read_stops_the_call_with_its_oserror(
    disk: SlowDisk, timeline: Timeline
) -> None:
    (disk.folder / "folder").mkdir()
    for bad, kind in (("gone.txt", FileNotFoundError), ("folder", IsADirectoryError)):
        # The unreadable path first, one file at a time: the last one waits behind two others.
        paths = [
            disk.folder / bad,
            disk.file(f"{bad}.next.txt", b"next\n"),
            disk.slow_file(f"{bad}.last.bin", b"last\n"),
        ]
        call = digest_call(paths, 1)
        what = f"{bad} {'is a folder' if kind is IsADirectoryError else 'does not exist'}"
        raised: Exception | None = None
        with started_tasks() as started:
            try:
                digests = await digest_all(paths, 1)
            except NotImplementedError:
                raise
            except Exception as error:
                raised = error
        left = started.still_running()
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)
        if raised is None:
            fail(
                f"{call} returned digests for {sorted(p.name for p in digests)} although {what}: "
                "the caller was not told that a file could not be read, and a backup would go "
                "on as if it were fine.\n"
                f"Expected: the {kind.__name__} of opening {bad}, raised to the caller.\n"
                "Try: let the error of reading a file go up: do not catch it in the task "
                "that reads it."
            )
        if isinstance(raised, BaseExceptionGroup):
            found = raised.subgroup(kind) is not None
        else:
            found = isinstance(raised, kind)
        if not found:
            fail(
                f"{call} raised {raised!r} although {what}; expected the {kind.__name__} of "
                f"opening {bad} (a TaskGroup raises it inside an ExceptionGroup: `except* "
                "OSError` catches it either way)."
            )
        if left:
            fail(
                f"{call} raised {raised!r}, right, but {len(left)} task(s) it had started "
                f"{were(left)} still running: {listed(started.describe(t) for t in left)}. "
                "They go on opening and reading the other files after the call has failed, "
                "for digests nobody will read.\n"
                + (
                    "Likely mistake: asyncio.gather without return_exceptions raises the first "
                    "error at once, and leaves the other tasks running.\n"
                    if any("gather" in started.origins.get(task, "") for task in left)
                    else ""
                )
                + "Expected: once one file fails, the files still waiting for a slot are never "
                "opened.\n"
                "Try: run the tasks in an asyncio.TaskGroup: the first failure cancels the "
                "tasks still waiting for a slot, and waits for them."
            )
        if paths[2] in disk.reads:
            fail(
                f"{call} raised {raised!r}, right, but only after it had opened "
                f"{paths[2].name}, which was still waiting for a slot, behind {paths[1].name}, "
                f"when {bad} failed: the other files were read before the error went up.\n"
                "Expected: once one file fails, the files still waiting for a slot are never "
                "opened.\n"
                "Try: run the tasks in an asyncio.TaskGroup: the first failure cancels the "
                "tasks still waiting for a slot.\n\n" + timeline.draw()
            )


class SlowDisk:
    """Real files in the test's folder, some of them on a "slow disk".

    A slow file is a named pipe (os.mkfifo, so Linux or macOS) that a writer thread of the test
    feeds piece by piece over SLOW seconds, once a reader has opened it: a plain open()/read() of
    it blocks until its last byte arrives, as a read from a slow disk or a network share does.
    Each read of a slow file is drawn on the timeline, from the moment it is opened until its
    last byte is delivered, so `timeline.peak` is how many slow files were open at once.
    """

    def __init__(self, folder: Path, timeline: Timeline) -> None:
        self.folder = folder
        self.timeline = timeline
        self.contents: dict[Path, bytes] = {}
        self.reads: dict[Path, Span] = {}  # the read of each slow file, once it was opened
        self._stop = threading.Event()
        # The writer threads start here, in the fixture: starting a thread takes a while on a
        # busy machine, and inside the test that would count as blocking the event loop.
        self._jobs: queue.SimpleQueue[tuple[Path, float, float] | None] = queue.SimpleQueue()
        self._writers = [
            threading.Thread(target=self._writer, name=f"slow disk {n}") for n in range(WRITERS)
        ]
        for writer in self._writers:
            writer.start()

    def file(self, name: str, content: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(content)
        self.contents[path] = content
        return path

    def slow_file(
        self, name: str, content: bytes, seconds: float = SLOW, opens_after: float = 0.0
    ) -> Path:
        if not hasattr(os, "mkfifo"):
            fail(
                "This kata's slow disk is made of named pipes (os.mkfifo), which need Linux, "
                "macOS or WSL."
            )
        path = self.folder / name
        os.mkfifo(path)
        self.contents[path] = content
        # A writer thread waits `opens_after` seconds, then for its reader.
        self._jobs.put((path, seconds, opens_after))
        return path

    def slow_files(self, count: int) -> list[Path]:
        return [
            self.slow_file(f"slow{i}.bin", f"slow file {i}\n".encode() * 50) for i in range(count)
        ]

    def _writer(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._serve(*job)

    def _serve(self, path: Path, seconds: float, opens_after: float) -> None:
        """Once a reader opens the pipe, deliver the content in pieces, then close it (EOF).

        With `opens_after`, a reader's open() of the file blocks until that many seconds after
        the file was made (a share that takes its time to answer): the writer opens its end
        only then.
        """
        if self._stop.wait(scaled(opens_after)):
            return
        fd = os.open(path, os.O_WRONLY)  # waits until a reader opens the file (or close() does)
        if self._stop.is_set():
            os.close(fd)
            return  # never opened: the test is over
        content = self.contents[path]
        size = -(-len(content) // PIECES)
        step = scaled(seconds / PIECES)
        try:
            with self.timeline.record(f"read {path.name}") as span:
                self.reads[path] = span
                for piece in range(PIECES):
                    os.write(fd, content[piece * size : (piece + 1) * size])
                    # On a fixed schedule: a late wake-up does not add up over the pieces.
                    self._stop.wait(span.start + (piece + 1) * step - self.timeline.now())
        except BrokenPipeError:
            pass  # the reader closed the file before the end
        finally:
            os.close(fd)  # the end of the file: the reader's read() returns
        # A file opened a second time reads as empty at once, instead of waiting forever.
        while not self._stop.wait(scaled(0.01)):
            with suppress(OSError):  # ENXIO: nobody has the file open
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    def close(self) -> None:
        """Stop every writer thread, also those whose file was never opened."""
        self._stop.set()
        for _ in self._writers:
            self._jobs.put(None)
        fifos = [path for path in self.contents if path.is_fifo()]
        # A writer still waiting for its reader in open() gets one, sees the stop and ends.
        readers = [os.open(path, os.O_RDONLY | os.O_NONBLOCK) for path in fifos]
        for writer in self._writers:
            writer.join(timeout=scaled(2))
        for fd in readers:
            os.close(fd)
        for path in fifos:  # and a reader of the code under test still waiting in open()
            with suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture
def disk(tmp_path: Path, timeline: Timeline) -> Iterator[SlowDisk]:
    """Files in tmp_path, some on a slow disk; every writer thread is stopped when the test ends."""
    slow_disk = SlowDisk(tmp_path, timeline)
    yield slow_disk
    slow_disk.close()


class Hashing:
    """Where the learner's module calls hashlib: the threads, and which call ran on which."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []  # (what, thread ident)

    def watched(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((f"hashlib.{name}()", threading.get_ident()))
            made = function(*args, **kwargs)
            return _Hash(made, self) if hasattr(made, "update") else made

        return call


class _Hash:
    """A hash object whose update() calls are noted too."""

    def __init__(self, inner: Any, hashing: Hashing) -> None:
        self._inner, self._hashing = inner, hashing

    def update(self, data: bytes) -> None:
        self._hashing.calls.append(("update()", threading.get_ident()))
        self._inner.update(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> Hashing:
    """Watch the learner's module's hashlib: every hashing call and the thread it ran on."""
    watch = Hashing()
    calls = ("file_digest", "new", "sha256")
    swap_in(
        monkeypatch,
        file_digests,
        hashlib,
        **{n: watch.watched(n, getattr(hashlib, n)) for n in calls},
    )
    return watch


def digest_call(paths: list[Path], limit: int) -> str:
    return f"digest_all({[p.name for p in paths]}, limit={limit})"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def digest_all(paths: list[Path], limit: int) -> dict[Path, str]:
    """The learner's digest_all; reading bytes as text fails with an explanation."""
    try:
        return await file_digests.digest_all(paths, limit)
    except* UnicodeDecodeError as group:
        error = group.exceptions[0]
    fail(
        f"{digest_call(paths, limit)} raised UnicodeDecodeError ({error}): a file was opened in "
        "text mode, which decodes its bytes as UTF-8, and these bytes are not text.\n"
        "Expected: the sha256 of every file's bytes, whatever they are.\n"
        "Try: open the file in binary mode, `path.open('rb')` (or `path.read_bytes()`), and "
        "hash those bytes."
    )
