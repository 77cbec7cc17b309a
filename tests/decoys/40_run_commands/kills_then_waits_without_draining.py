"""Kills a command the consumer stopped reading, then awaits process.wait() on its full pipe.

caught by: test_stopping_early_kills_and_reaps_the_command
says: drained
not on uvloop: uvloop's process.wait() does not wait for the pipes
"""

import asyncio
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Finished:
    """How one command ended: its exit code, everything it printed, and whether it timed out."""

    returncode: int  # 0 for success; -9 for a process killed with SIGKILL (on Linux, macOS)
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


async def run_all(commands: list[list[str]], *, limit: int, time_limit: float) -> list[Finished]:
    """Run every command (an argument list, no shell) as a subprocess; return how each ended.

    At most `limit` processes are alive at any moment. Each command gets `time_limit` seconds
    from its own start; one still running then is killed, and its result is
    Finished(returncode=-9, stdout=b"", stderr=b"", timed_out=True); the others go on.
    The results come in the order of the commands. If run_all is cancelled, every process it
    started is killed, and reaped, before its CancelledError goes on up.

    >>> asyncio.run(run_all([["echo", "hi"], ["sleep", "9"]], limit=2, time_limit=1.0))
    [Finished(returncode=0, stdout=b'hi\\n', stderr=b'', timed_out=False),
     Finished(returncode=-9, stdout=b'', stderr=b'', timed_out=True)]
    """
    slots = asyncio.Semaphore(limit)

    async def run(command: list[str]) -> Finished:
        # A slot is a live process: take it before the process starts, give it back once reaped.
        async with slots:
            process = await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=PIPE)
            timed_out = False
            try:
                # communicate() reads both pipes while it waits: a full pipe never stalls it.
                async with asyncio.timeout(time_limit):
                    stdout, stderr = await process.communicate()
            except TimeoutError:
                timed_out, stdout, stderr = True, b"", b""
            finally:
                # Timed out or cancelled: kill it, then drain its pipes and reap it.
                if process.returncode is None:
                    process.kill()
                    await process.communicate()
            return Finished(await process.wait(), stdout, stderr, timed_out)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(run(command)) for command in commands]
    return [task.result() for task in tasks]


async def stream_lines(command: list[str]) -> AsyncIterator[str]:
    """Stage 2: run one command and yield each line of its stdout as soon as it is printed.

    An async generator, read with `async for`; each line comes without its line ending. The
    stream ends once the command has exited. A consumer that stops early (break, then aclose())
    kills the command: it has been killed and reaped when aclose() returns.

    >>> async with contextlib.aclosing(stream_lines(["ping", "localhost"])) as lines:
    ...     async for line in lines:
    ...         print(line)
    PING localhost (127.0.0.1) 56(84) bytes of data.
    64 bytes from localhost (127.0.0.1): icmp_seq=1 ttl=64 time=0.04 ms
    ...
    """
    process = await asyncio.create_subprocess_exec(*command, stdout=PIPE)
    assert process.stdout is not None
    try:
        # Each line as soon as the command prints it, not once it has ended.
        async for line in process.stdout:
            yield line.decode().rstrip("\r\n")
        await process.wait()  # the stream ends once the command has exited
    finally:
        # Stopped early (break and aclose(), or cancelled): kill it, drain the pipe, reap it.
        if process.returncode is None:
            process.kill()
            await process.wait()
