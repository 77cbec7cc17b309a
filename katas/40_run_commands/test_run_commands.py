from __future__ import annotations

import asyncio
import contextlib
import json
import linecache
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pytest
import run_commands
from harness import (
    EARLY,
    MARGIN,
    Span,
    Timeline,
    fail,
    loop_turns,
    outcome,
    patiently,
    scaled,
    swap_in,
    waiting_at,
)
from run_commands import Finished

# How long the test waits for something a command does (start, print, end) before it concludes
# that it is not coming. Python starts in 10 to 100 ms, under load too: this is plenty.
PATIENCE = 1.0
# Creating a process blocks the event loop a moment (fork and exec: 10 to 50 ms, more under
# load), so a step of the loop counts as blocked here only from this long.
BLOCKED = 0.3
# What the commands of the first test take: a call that waits for them blocks the loop.
BUSY = 0.4
# A timeout no command of a test reaches, unless the answer is stuck.
AMPLE = 3.0
# A command that prints this much fills its pipe (64 KiB) and asyncio's buffer behind it.
A_LOT = 1_000_000
# How long each command of the time-limit test runs, from its creation, of its 1 s.
RUNS = 0.6
# A wrong answer acts within this time of what it reacts to (a few turns of the loop).
SETTLE = 0.3
# How a process killed with SIGKILL ends, as asyncio reports it.
KILLED = -signal.SIGKILL

T = TypeVar("T")

# The command the tests run: a Python script that does its steps and tells the test, over a
# socket, when it started, holds, printed or wrote, and when it ends of its own accord.
SCRIPT = """\
import json, os, socket, sys, time

port, name, *rest = sys.argv[1:]
steps, args = rest[: rest.index("--")], rest[rest.index("--") + 1 :]
test = socket.create_connection(("127.0.0.1", int(port)))
replies = test.makefile("rb")


def tell(event):
    test.sendall(f"{event}\\n".encode())


tell(f"{name} {os.getpid()}")
for step in steps:
    what, _, value = step.partition("=")
    if what == "print":
        print(value, flush=True)
        tell(f"printed {value}")
    elif what == "warn":
        print(value, file=sys.stderr, flush=True)
    elif what == "args":
        print(json.dumps(args), flush=True)
    elif what == "sleep":
        time.sleep(float(value))
    elif what == "hold":  # until the test lets it go on (or is gone)
        tell("holding")
        replies.readline()
        tell("released")
    elif what == "flood":  # lines of 100 bytes, `value` bytes in all, or forever
        written = 0
        while value == "forever" or written < int(value):
            sys.stdout.write(("x" * 99 + "\\n") * 200)
            sys.stdout.flush()
            written += 20_000
            tell(f"wrote {written}")
    elif what == "close":  # its stdout, and it goes on
        sys.stdout.flush()
        os.close(1)
        sys.stdout = open(os.devnull, "w")
        tell("closed")
    elif what == "exit":
        tell("exiting")
        sys.exit(int(value))
tell("exiting")
"""


async def test_each_command_gives_its_exit_code_and_output(commands: Commands) -> None:
    async with commands:
        greet = commands.command("greet", "print=hello", "warn=careful", f"sleep={BUSY}")
        fails = commands.command("fails", "print=trying", "warn=failed", f"sleep={BUSY}", "exit=3")
        quiet = commands.command("quiet", f"sleep={BUSY}")
        results = await commands.run_all([greet, fails, quiet], limit=3, time_limit=AMPLE)
        commands.expect_results(
            results,
            [
                Finished(0, b"hello\n", b"careful\n"),
                Finished(3, b"trying\n", b"failed\n"),
                Finished(0, b"", b""),
            ],
        )


async def test_an_argument_with_a_space_reaches_the_command_whole(commands: Commands) -> None:
    async with commands:
        args = ["two words", "$HOME", "*.py"]
        echo = commands.command("echo", "args", args=args)
        [result] = await commands.run_all([echo], limit=1, time_limit=AMPLE)
        commands.expect_arguments_whole(result, args)
        commands.expect_results([result], [Finished(0, f"{json.dumps(args)}\n".encode(), b"")])


async def test_the_commands_run_at_the_same_time(commands: Commands) -> None:
    async with commands:
        argv = [commands.command(name, "hold", f"print={name}") for name in "abc"]
        commands.start(argv, limit=3, time_limit=AMPLE)
        if not await commands.until(lambda: commands.holding() == ["a", "b", "c"]):
            commands.fail_to_overlap(expected=3)
        await commands.release("a", "b", "c")
        results = await commands.finished()
        commands.expect_results(results, [Finished(0, f"{n}\n".encode(), b"") for n in "abc"])


async def test_results_come_in_the_order_of_the_commands(commands: Commands) -> None:
    async with commands:
        first = commands.command("first", "hold", "print=first")
        argv = [first, commands.command("second", "print=second")]
        argv.append(commands.command("third", "print=third"))
        commands.start(argv, limit=3, time_limit=AMPLE)
        # "first" ends last: once the other two have ended.
        if not await commands.until(lambda: commands.ended() == ["second", "third"]):
            commands.fail_to_overlap(expected=3)
        await commands.release("first")
        results = await commands.finished()
        names = ["first", "second", "third"]
        commands.expect_results(results, [Finished(0, f"{n}\n".encode(), b"") for n in names])


async def test_at_most_limit_commands_run_at_once(commands: Commands) -> None:
    async with commands:
        names = ["a", "b", "c", "d", "e"]
        argv = [commands.command(name, "hold", f"print={name}") for name in names]
        commands.start(argv, limit=2, time_limit=AMPLE)
        for step in range(len(names)):
            held = min(2, len(names) - step)  # a slot frees each time one is let go
            running = await commands.until(lambda: len(commands.holding()) >= held)  # noqa: B023
            commands.expect_at_most(2)
            if not running:
                commands.fail_to_overlap(expected=held)
            await commands.release(commands.holding()[0])
        results = await commands.finished()
        commands.expect_results(results, [Finished(0, f"{n}\n".encode(), b"") for n in names])


async def test_a_command_past_its_timeout_is_killed_and_reaped(commands: Commands) -> None:
    async with commands:
        stuck = commands.command("stuck", "hold")  # never let go: it runs until killed
        quick = commands.command("quick", "print=quick")
        results = await commands.run_all([stuck, quick], limit=2, time_limit=1.0)
        await commands.expect_killed_and_reaped("stuck", results[0])
        commands.expect_results(
            results, [Finished(KILLED, b"", b"", timed_out=True), Finished(0, b"quick\n", b"")]
        )


async def test_the_timeout_counts_from_the_start_of_each_command(commands: Commands) -> None:
    async with commands:
        # One at a time, each runs 0.6 s of its 1 s: "b" waits 0.6 s for its slot first.
        argv = [commands.command(name, "hold", f"print={name}") for name in "ab"]
        commands.start(argv, limit=1, time_limit=1.0)
        for name in "ab":
            await commands.let_run(name, RUNS)
        results = await commands.finished()
        commands.expect_no_early_timeout(results)
        commands.expect_results(results, [Finished(0, f"{n}\n".encode(), b"") for n in "ab"])


async def test_a_command_that_prints_a_lot_does_not_hang(commands: Commands) -> None:
    async with commands:
        chatty = commands.command("chatty", f"flood={A_LOT}")
        [result] = await commands.run_all([chatty], limit=1, time_limit=2.0)
        commands.expect_output_read_while_running("chatty", result)
        expected = ("x" * 99 + "\n").encode() * (A_LOT // 100)
        commands.expect_results([result], [Finished(0, expected, b"")])


async def test_cancelling_run_all_kills_and_reaps_its_processes(commands: Commands) -> None:
    async with commands:
        argv = [commands.command(name, "hold", f"print={name}") for name in "abc"]
        run = commands.start(argv, limit=2, time_limit=AMPLE)
        if not await commands.until(lambda: len(commands.holding()) == 2):
            commands.fail_to_overlap(expected=2)
        left = await commands.cancel(run)
        await commands.expect_none_left(left, "run_all was cancelled")


@pytest.mark.stage(2)
async def test_each_line_arrives_as_the_command_prints_it(commands: Commands) -> None:
    async with commands:
        ticker = commands.command("ticker", "print=one", "hold", "print=two", "hold", "print=3")
        lines = run_commands.stream_lines(ticker)
        async with contextlib.aclosing(lines):  # type: ignore[type-var]
            for line in ["one", "two"]:
                await commands.expect_next_line(lines, line)
                await commands.release("ticker")  # it prints its next line
            await commands.expect_next_line(lines, "3")
            await commands.expect_end_of(lines)


@pytest.mark.stage(2)
async def test_the_stream_ends_once_the_command_has_exited(commands: Commands) -> None:
    async with commands:
        # "closer" closes its stdout after its line, and runs on until the test lets it end.
        closer = commands.command("closer", "print=last", "close", "hold")
        lines = run_commands.stream_lines(closer)
        reading = commands.watch(read_every_line(lines))
        await commands.until(lambda: reading.done() or commands["closer"].holding)
        # A stream that ends at the end of the output ends now, a moment after "closed".
        await commands.until(lambda: reading.done() or bool(commands.ended()), within=SETTLE)
        if not reading.done() and not commands.ended():
            await commands.release("closer")  # only now may the stream end
        await commands.expect_read_to_the_end(reading, "closer", ["last"])


@pytest.mark.stage(2)
async def test_stopping_early_kills_and_reaps_the_command(commands: Commands) -> None:
    async with commands:
        chatty = commands.command("chatty", "print=first", "flood=forever")
        lines = run_commands.stream_lines(chatty)
        await commands.expect_next_line(lines, "first")
        # Nobody reads on: the pipe and asyncio's buffer behind it fill up.
        await commands.until(lambda: commands["chatty"].wrote >= 150_000)
        await commands.expect_closed_and_gone(lines, "chatty")


@pytest.fixture
def commands(tmp_path: Path, timeline: Timeline, monkeypatch: pytest.MonkeyPatch) -> Commands:
    """The commands of a test: scripts it writes, runs through the learner's code and watches."""
    watched = Commands(tmp_path, timeline)
    real_exec, real_shell = asyncio.create_subprocess_exec, asyncio.create_subprocess_shell

    async def create_subprocess_exec(program: Any, *args: Any, **kwargs: Any) -> Any:
        argv = [str(program), *map(str, args)]
        return await watched.created(argv, "exec", real_exec(program, *args, **kwargs))

    async def create_subprocess_shell(cmd: Any, **kwargs: Any) -> Any:
        return await watched.created(str(cmd).split(), "shell", real_shell(cmd, **kwargs))

    swap_in(
        monkeypatch,
        run_commands,
        asyncio,
        create_subprocess_exec=create_subprocess_exec,
        create_subprocess_shell=create_subprocess_shell,
    )
    return watched


async def read_every_line(lines: AsyncIterator[str]) -> list[str]:
    """Every line of the stream, to its end; the stream is closed however this ends."""
    async with contextlib.aclosing(lines):  # type: ignore[type-var]
        return [line async for line in lines]


@dataclass
class Command:
    """One command of a test, as its process told the test what it did."""

    name: str
    argv: list[str]
    created: bool = False  # the code under test has asked asyncio to start it
    via: str = ""  # "exec" or "shell": the asyncio call that started it
    process: asyncio.subprocess.Process | None = None
    span: Span | None = None  # on the timeline: from its creation to its end
    started: float | None = None  # when it was created, on the timeline
    connection: asyncio.StreamWriter | None = None
    holding: bool = False  # waiting for the test to let it go on
    printed: list[str] = field(default_factory=list)
    wrote: int = 0  # bytes it managed to write by flooding
    exiting: bool = False  # it reached its end, not killed
    ended: float | None = None  # when its process was gone (its connection closed)

    @property
    def reaped(self) -> bool:
        """asyncio has seen the process end and knows its exit code."""
        return self.process is not None and self.process.returncode is not None


class Commands:
    """The test's commands: writes the script, listens to what each process tells, and sees every
    process the code under test creates (the asyncio calls are spied on)."""

    def __init__(self, tmp_path: Path, timeline: Timeline) -> None:
        self.script = tmp_path / "command.py"
        self.script.write_text(SCRIPT)
        self.timeline = timeline
        self.commands: dict[str, Command] = {}
        self.changed = asyncio.Event()
        self.listeners: set[asyncio.Task[None]] = set()
        self.watched: set[asyncio.Task[Any]] = set()  # the test's own tasks, see watch()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.task: asyncio.Task[Any] | None = None
        self.call = ""
        self.time_limit = 0.0
        self.called = 0.0  # when run_all was called, on the timeline
        self.peak, self.crowd = 0, [""]  # most processes alive at once, and which

    def __getitem__(self, name: str) -> Command:
        return self.commands[name]

    async def __aenter__(self) -> Commands:
        asyncio.get_running_loop().slow_callback_duration = scaled(BLOCKED)
        self.server = await asyncio.start_server(self.listen, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop what is left: the call, every process it started (killed and reaped), the
        listening: none of it outlives the test."""
        assert self.server is not None
        self.server.close()  # no new connection from here on
        running = {t for t in {self.task, *self.watched} if t is not None and not t.done()}
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=scaled(PATIENCE))
        for command in self.commands.values():
            process = command.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            if process is not None:
                with contextlib.suppress(Exception):  # drained, so that asyncio can reap it
                    await patiently(process.communicate(), PATIENCE)
        # A connection accepted a moment ago reaches listen() a few turns of the loop later.
        await loop_turns(5)
        for command in self.commands.values():
            if command.connection is not None:
                command.connection.close()  # a command that holds goes on, to its end
        if self.listeners:
            await asyncio.wait(self.listeners, timeout=scaled(PATIENCE))
        left = [listener for listener in self.listeners if not listener.done()]
        for listener in left:
            listener.cancel()
        if left:
            await asyncio.wait(left, timeout=scaled(PATIENCE))
        await self.server.wait_closed()

    def command(self, name: str, *steps: str, args: list[str] | None = None) -> list[str]:
        """The command line of a command that does `steps` (its sleeps scaled), given `args`."""
        steps = tuple(
            f"sleep={scaled(float(s[6:]))}" if s.startswith("sleep=") else s for s in steps
        )
        argv = [sys.executable, str(self.script), str(self.port), name, *steps, "--"]
        argv += args or []
        self.commands[name] = Command(name, argv)
        return argv

    async def created(self, argv: list[str], via: str, creating: Any) -> Any:
        """The code under test creates a process: note it, and how many are alive with it."""
        name = argv[3] if len(argv) > 3 else " ".join(argv)
        command = self.commands.setdefault(name, Command(name, argv))
        alive = [c.name for c in self.commands.values() if c.created and not c.reaped]
        command.created, command.via = True, via
        if len(alive) + 1 > self.peak:
            self.peak, self.crowd = len(alive) + 1, [*alive, name]
        command.started = self.timeline.now()
        command.span = Span(name, command.started)
        self.timeline.spans.append(command.span)
        command.process = await creating
        return command.process

    async def listen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """What one command's process tells the test, until it is gone."""
        task = asyncio.current_task()
        assert task is not None
        self.listeners.add(task)
        hello = (await reader.readline()).decode().split()
        if not hello:
            writer.close()
            return
        command = self.commands.setdefault(hello[0], Command(hello[0], []))
        command.connection = writer
        # Counted here too, for a process created by a call the spies do not see.
        alive = [c.name for c in self.commands.values() if c.connection and c.ended is None]
        if len(alive) > self.peak:
            self.peak, self.crowd = len(alive), alive
        try:
            while line := await reader.readline():
                event, _, value = line.decode().strip().partition(" ")
                command.holding = event == "holding"
                if event == "printed":
                    command.printed.append(value)
                elif event == "wrote":
                    command.wrote = int(value)
                elif event == "exiting":
                    command.exiting = True
                self.changed.set()
        except ConnectionError:
            pass
        finally:
            command.ended = self.timeline.now()
            command.holding = False
            if command.span is not None:
                command.span.end = command.ended
                command.span.label += "" if command.exiting else " (killed)"
            writer.close()
            self.changed.set()

    def start(self, argv: list[list[str]], *, limit: int, time_limit: float) -> asyncio.Task[Any]:
        """Start run_all(argv, limit=..., time_limit=...) (the time limit scaled) in a task."""
        names = ", ".join(a[3] for a in argv)
        self.time_limit = scaled(time_limit)
        self.call = f"run_all([{names}], limit={limit}, time_limit={self.time_limit:.2f})"
        self.called = self.timeline.now()
        self.task = asyncio.create_task(
            run_commands.run_all(argv, limit=limit, time_limit=self.time_limit)
        )
        self.task.add_done_callback(lambda _: self.changed.set())
        return self.task

    async def run_all(self, argv: list[list[str]], *, limit: int, time_limit: float) -> Any:
        """run_all(...), as start() starts it; its results, once it has returned."""
        self.start(argv, limit=limit, time_limit=time_limit)
        rounds = -(-len(argv) // limit)  # each command ends, or is killed, within its limit
        return await self.finished(within=rounds * time_limit + PATIENCE)

    async def until(self, check: Callable[[], bool], within: float = PATIENCE) -> bool:
        """Wait until check() holds, at most `within` s (scaled), or until run_all has raised."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(scaled(within)):
                while not check():
                    if self.task is not None and self.task.done():
                        self.expect_no_error()
                    self.changed.clear()
                    await self.changed.wait()
        return check()

    async def let_run(self, name: str, seconds: float) -> None:
        """Let the command go on `seconds` (scaled) after its process was created (unless it
        has ended by then): it runs that long, whenever it started."""
        command = self[name]
        await self.until(lambda: command.holding or command.ended is not None)
        if command.started is not None:
            left = command.started + scaled(seconds) - self.timeline.now()
            # (until() scales what it is given: `left` is in real seconds already)
            await self.until(lambda: command.ended is not None, within=max(left, 0) / scaled(1))
        if command.holding:
            await self.release(name)

    def watch(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run the coroutine in a task; `until()` looks again when it is done."""
        task = asyncio.create_task(coroutine)
        task.add_done_callback(lambda _: self.changed.set())
        self.watched.add(task)
        return task

    def holding(self) -> list[str]:
        return sorted(c.name for c in self.commands.values() if c.holding)

    def ended(self) -> list[str]:
        return sorted(c.name for c in self.commands.values() if c.ended is not None)

    async def release(self, *names: str) -> None:
        """Let these commands go on past their `hold` (once they have got there)."""
        await self.until(lambda: all(self[name].holding for name in names))
        for name in names:
            command = self.commands[name]
            assert command.connection is not None and command.holding, f"{name} is not holding"
            command.holding = False
            self.timeline.mark(f"{name} let go")
            command.connection.write(b"go\n")

    async def finished(self, within: float = AMPLE) -> Any:
        """What run_all returned, once it has (at most `within` s, scaled, after now)."""
        assert self.task is not None
        done = await self.until(lambda: self.task is not None and self.task.done(), within)
        if not done:
            _, line = waiting_at(self.task, run_commands)
            at = f", waiting at {line}" if line else ""
            fail(
                f"{self.call} had not returned {scaled(within):.2f} s after it was called{at}."
                f"\n{self.whats_running()}\nExpected: run_all returns once every command has "
                f"ended, or been killed at its time limit.\n\n{self.timeline.draw()}"
            )
        self.expect_no_error()
        return self.task.result()

    def expect_no_error(self) -> None:
        """run_all ended by raising: the learner's own NotImplementedError as it is; the
        others explained."""
        __tracebackhide__ = True
        assert self.task is not None
        if self.task.cancelled() or self.task.exception() is None:
            return
        error = self.task.exception()
        assert error is not None
        if isinstance(error, NotImplementedError):
            raise error
        first = error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, TimeoutError):
            fail(
                f"{self.call} raised {error!r}: the TimeoutError of one command's timeout went "
                "on up, and took the whole call with it (a TaskGroup cancels the other "
                "commands when one of its tasks fails). One command's timeout must not stop "
                "the others.\n"
                "Expected: that command killed, its result Finished(returncode=-9, stdout=b'', "
                "stderr=b'', timed_out=True), and the others run on.\n"
                "Try: catch the TimeoutError around the command's own wait, where you kill the "
                f"process.\n\n{self.timeline.draw()}"
            )
        fail(f"{self.call} raised {error!r}.\n\n{self.timeline.draw()}")

    def whats_running(self) -> str:
        alive = [c for c in self.commands.values() if c.created and c.ended is None]
        if not alive:
            return "Every command it started had ended."
        shell = [c.name for c in alive if c.via == "shell"]
        late = [
            c
            for c in alive
            if c.via != "shell"
            and c.started is not None
            and self.time_limit > 0
            and self.timeline.now() - c.started > self.time_limit + scaled(MARGIN)
        ]
        return (
            f"Still running: {', '.join(c.name for c in alive)}."
            + (
                f" {', '.join(shell)} ran under a shell (create_subprocess_shell): the process "
                "it created, and killed, is the shell; the command the shell started runs on."
                if shell
                else ""
            )
            + "".join(
                f" {c.name} had been running for {self.timeline.now() - c.started:.2f} s, past "
                f"its time limit of {self.time_limit:.2f} s, and nothing had killed it."
                for c in late
                if c.started is not None
            )
        )

    def fail_to_overlap(self, expected: int) -> None:
        """Fewer commands than `expected` ran at once (the others had not started)."""
        running = self.holding()
        waiting = [c.name for c in self.commands.values() if not c.created]
        mistake = (
            " one after another: each command only once the one before it has ended."
            if len(running) <= 1 and self.peak <= 1
            else "."
        )
        fail(
            f"{self.call}: {scaled(PATIENCE):.2f} s after the start, {len(running)} command(s) "
            f"ran at once ({', '.join(running) or 'none'}), where {expected} should; "
            f"{', '.join(waiting) or 'none'} had not been started. It ran them{mistake}\n"
            f"Expected: up to `limit` commands alive at the same time.\n"
            "Try: start each command in a task of its own (a TaskGroup), so that they wait for "
            f"their processes side by side.\n\n{self.timeline.draw()}"
        )

    def expect_at_most(self, limit: int) -> None:
        if self.peak <= limit:
            return
        fail(
            f"{self.call}: {self.peak} processes were alive at once ({', '.join(self.crowd)}: "
            f"each created and not yet ended), where limit={limit} allows {limit}.\n"
            "A process counts from the moment it is created until it has ended and been "
            "reaped, whether or not you are reading its output.\n"
            "Expected: at most `limit` processes alive at any moment.\n"
            "Try: an asyncio.Semaphore(limit), held from before create_subprocess_exec until the "
            f"process has been waited for.\n\n{self.timeline.draw()}"
        )

    async def expect_killed_and_reaped(self, name: str, result: Any) -> None:
        command = self[name]
        returncode = getattr(result, "returncode", "?")
        if returncode is None and not await self.until(lambda: command.ended is not None):
            fail(
                f"{self.call} returned {result!r} for {name}, which was still running "
                f"{scaled(PATIENCE):.2f} s later: its process was never killed. The timeout "
                "stopped the wait for it, not the process: a process runs on until it ends or "
                "is killed, whoever waits for it.\n"
                f"Expected: {name} killed at its timeout, so that it is gone when run_all "
                "returns.\n"
                "Try: process.kill() when the timeout expires, then wait for the process.\n\n"
                + self.timeline.draw()
            )
        if returncode is None:
            fail(
                f"{self.call} returned {result!r} for {name}, whose returncode is None: "
                "the process was killed but not waited for. kill() only sends the signal: the "
                "process ends a moment later, and until it is reaped its exit code is unknown "
                "and it stays in the process table (a zombie).\n"
                f"Expected: returncode {KILLED} (killed with SIGKILL), known by the time "
                "run_all returns.\n"
                "Try: after process.kill(), `await process.wait()` (or communicate()) before "
                f"you read process.returncode.\n\n{self.timeline.draw()}"
            )
        if command.started is not None and command.ended is not None:
            ran = command.ended - command.started
            if ran < EARLY * self.time_limit:
                fail(
                    f"{self.call}: {name} was killed {ran:.2f} s after it was started, before "
                    f"its timeout of {self.time_limit:.2f} s.\n\n{self.timeline.draw()}"
                )

    def expect_no_early_timeout(self, results: Any) -> None:
        for command, result in zip(self.commands.values(), results, strict=False):
            if not getattr(result, "timed_out", False):
                continue
            killed = (command.ended or self.timeline.now()) - self.called
            if command.started is None:
                ran = "and was never started: its time ran out while it was waiting for a slot"
            else:
                ran = (
                    f"killed {killed:.2f} s after the call, but only "
                    f"{killed - (command.started - self.called):.2f} s after its process was "
                    f"created: it had been waiting for a slot for "
                    f"{command.started - self.called:.2f} s"
                )
            fail(
                f"{self.call} returned {command.name} as timed out, {ran}. Each command gets "
                f"{self.time_limit:.2f} s from its own start, and each of these runs "
                f"{scaled(RUNS):.2f} s; here the clock started while it was still waiting for a "
                "slot.\n"
                "Expected: every command finished, none timed out.\n"
                "Try: start the timeout (`async with asyncio.timeout(...)`) inside the "
                "semaphore's block, once the slot is yours and the process started.\n\n"
                + self.timeline.draw()
            )

    def expect_output_read_while_running(self, name: str, result: Any) -> None:
        command = self[name]
        if command.exiting or not getattr(result, "timed_out", False):
            return
        fail(
            f"{self.call} returned {finished_text(result)} for {name}, a command that prints "
            f"{A_LOT:,} bytes and exits at once: it timed out after writing only "
            f"{command.wrote:,} of them. It was stuck writing to a full pipe. A pipe holds "
            "64 KiB (asyncio buffers some more behind it); a process that writes more waits "
            "until someone reads, and nobody read its stdout while run_all waited for the "
            "process to end: each waited for the other.\n"
            "Expected: its whole output, read while it runs.\n"
            "Try: `stdout, stderr = await process.communicate()`: it reads both pipes while it "
            f"waits for the process (never process.wait() before reading).\n\n"
            + self.timeline.draw()
        )

    def expect_arguments_whole(self, result: Any, args: list[str]) -> None:
        echo = self["echo"]
        try:
            got = json.loads(getattr(result, "stdout", b"").decode())
        except ValueError:
            got = None
        if got == args:
            return
        through = (
            " The command line went through a shell (create_subprocess_shell), which split it "
            "at the spaces, replaced $HOME and expanded *.py to file names: an argument is "
            "no longer what the caller gave, and a file name with a space breaks it (or a "
            "name like `; rm -rf ~` runs it)."
            if echo.via == "shell"
            else ""
        )
        fail(
            f"{self.call}: the command was given the arguments {args!r}, and it received "
            f"{got!r} (its output: {finished_text(result)}).{through}\n"
            "Expected: each argument of the list reaches the command as it is.\n"
            "Try: asyncio.create_subprocess_exec(*command, ...): the arguments go to the "
            "program as they are, with no shell in between."
        )

    def expect_results(self, results: Any, expected: list[Finished]) -> None:
        if results == expected:
            return
        names = list(self.commands)
        got = results if isinstance(results, list) else []
        in_order = [f"  {n}: {finished_text(r)}" for n, r in zip(names, expected, strict=False)]
        returned = "\n".join(f"  {finished_text(r)}" for r in got) if got else f"  {results!r}"
        mistake = ""
        if len(got) == len(expected) and all(r in got for r in expected):
            last = max(self.commands.values(), key=lambda c: c.ended or 0.0)
            came_last = expected[names.index(last.name)]
            mistake = "\nThe right results, in another order" + (
                f": {last.name} finished last, and its result came last. The results are in "
                "the order the commands finished; they must come in the order of the "
                "commands.\nTry: keep each command's task in a list in the order of the "
                "commands, and read their results from it once all are done."
                if got[-1] == came_last != expected[-1]
                else "."
            )
        fail(
            f"{self.call} returned:\n{returned}\nExpected, in the order of the commands:\n"
            + "\n".join(in_order)
            + f"{mistake}\n\n{self.timeline.draw()}"
        )

    async def cancel(self, run: asyncio.Task[Any]) -> list[str]:
        """Cancel run_all; the commands whose processes were not reaped when it had ended."""
        left: list[str] = []

        def when_done(_: asyncio.Task[Any]) -> None:
            left.extend(c.name for c in self.commands.values() if c.created and not c.reaped)

        run.add_done_callback(when_done)
        self.timeline.mark("cancel()")
        run.cancel()
        await asyncio.wait({run}, timeout=scaled(PATIENCE))
        if not run.done():
            _, line = waiting_at(run, run_commands)
            fail(
                f"{self.call} was cancelled and had not ended {scaled(PATIENCE):.2f} s "
                f"later{', waiting at ' + line if line else ''}.\n{self.whats_running()}\n\n"
                + self.timeline.draw()
            )
        if not run.cancelled():
            fail(
                f"{self.call} was cancelled, and {outcome(run)} instead of ending cancelled: the "
                "CancelledError was swallowed on the way.\n"
                "Try: clean up in `finally:`, and let the CancelledError go on up."
            )
        return left

    async def expect_none_left(self, left: list[str], when: str) -> None:
        if not left:
            return
        names = ", ".join(left)
        await self.until(lambda: all(self[n].ended is not None for n in left))
        running = [n for n in left if self[n].ended is None]
        if running:
            fail(
                f"{self.call}: {when} while its commands ran; {scaled(PATIENCE):.2f} s later "
                f"{', '.join(running)} kept running: cancelling the task that waits for a "
                "process does not stop the process.\n"
                "Expected: every process it started killed and reaped before its "
                "CancelledError goes on up.\n"
                "Try: in a `finally:` around the wait, if process.returncode is None: "
                "process.kill(), then wait for it.\n\n" + self.timeline.draw()
            )
        fail(
            f"{self.call}: {when} while its commands ran; it ended before the processes of "
            f"{names} were reaped (killed, but not waited for).\n"
            "Try: after process.kill(), wait for the process before you let the "
            f"CancelledError go on.\n\n{self.timeline.draw()}"
        )

    async def expect_next_line(self, lines: AsyncIterator[str], expected: str) -> None:
        """The stream's next line is `expected`, while the command holds after printing it."""
        name = next(iter(self.commands))
        command = self[name]
        call = f"stream_lines({name})"
        line = await patiently(anext(lines), PATIENCE)
        if line == expected:
            return
        if line is None:
            printed = ", ".join(repr(p) for p in command.printed) or "nothing"
            goes_on = "waits for the test" if "hold" in command.argv else "prints more"
            fail(
                f"`async for` over {call}: {name} printed {printed}, then {goes_on}; "
                f"{scaled(PATIENCE):.2f} s later the stream had not yielded {expected!r}. It "
                "waited for more than that line: it yields nothing until the command has ended "
                "(communicate() and stdout.read() wait for the end of the output).\n"
                "Expected: each line as soon as the command prints it.\n"
                "Try: read one line at a time, `async for line in process.stdout:` (or "
                f"`await process.stdout.readline()`), and yield it.\n\n{self.timeline.draw()}"
            )
        fail(f"`async for` over {call} got {line!r}, expected {expected!r}.")

    async def expect_end_of(self, lines: AsyncIterator[str]) -> None:
        name = next(iter(self.commands))
        with contextlib.suppress(StopAsyncIteration):
            line = await patiently(anext(lines), PATIENCE)
            fail(
                f"`async for` over stream_lines({name}) got "
                + (
                    f"{line!r} after the last line"
                    if line is not None
                    else f"no end of the stream {scaled(PATIENCE):.2f} s after the command "
                    f"had printed its last line and ended ({self.whats_running()})"
                )
            )

    async def expect_read_to_the_end(
        self, reading: asyncio.Task[list[str]], name: str, expected: list[str]
    ) -> None:
        command = self[name]
        await self.until(reading.done, PATIENCE)
        if reading.done() and reading.exception() is not None:
            raise reading.exception()  # type: ignore[misc]  # as the learner's code raised it
        if not reading.done():
            fail(
                f"`async for` over stream_lines({name}) had not ended {scaled(PATIENCE):.2f} s "
                f"after {name} exited. ({self.whats_running()})\n\n{self.timeline.draw()}"
            )
        if not command.exiting:
            fail(
                f"`async for` over stream_lines({name}): {name} printed its last line, closed "
                "its stdout and went on running; the stream ended there, and the command was "
                f"killed{' by it' if command.ended is not None else ''}, though it was "
                "still finishing of its own accord. End of output is not the end of the "
                "process: a command may close its output and still have work to do (and its "
                "exit code to give).\n"
                "Expected: the stream ends once the process has exited; it is not killed.\n"
                "Try: after the last line, `await process.wait()`; kill only a command the "
                f"consumer stopped reading early.\n\n{self.timeline.draw()}"
            )
        if reading.result() != expected:
            fail(
                f"`async for` over stream_lines({name}) got {reading.result()!r}, expected "
                f"{expected!r}."
            )

    async def expect_closed_and_gone(self, lines: AsyncIterator[str], name: str) -> None:
        command = self[name]
        call = f"stream_lines({name})"

        async def close() -> None:
            await lines.aclose()  # type: ignore[attr-defined]

        closing = self.watch(close())
        await self.until(closing.done)
        if not closing.done():
            line = suspended_at(lines)
            closing.cancel()
            await asyncio.wait({closing})
            fail(
                f"{call}: the consumer took the first line, then stopped (aclose()); "
                f"{scaled(PATIENCE):.2f} s later aclose() had not returned"
                f"{', stuck at ' + line if line else ''}. {name} had written "
                f"{command.wrote:,} bytes nobody read: its pipe and asyncio's buffer were "
                "full. process.wait() returns only once the process has ended AND its pipes "
                "are drained to their end, and nobody drains them.\n"
                "Expected: aclose() returns once the command is killed and reaped.\n"
                "Try: after process.kill(), `await process.communicate()`: it reads (and "
                f"drops) what is left, then waits.\n\n{self.timeline.draw()}"
            )
        if closing.exception() is not None:
            raise closing.exception()  # type: ignore[misc]  # as the learner's code raised it
        if command.reaped:
            return
        await self.until(lambda: command.ended is not None)
        fail(
            f"{call}: the consumer took the first line, then stopped (aclose()); "
            + (
                f"{scaled(PATIENCE):.2f} s later {name} was still running, and printing: "
                "nothing stopped it. A command nobody reads any more runs on: here it waits to "
                "write, forever, as nobody reads its output.\n"
                "Expected: aclose() returns once the command is killed and reaped.\n"
                "Try: in a `finally:` around the loop (it runs on aclose() and on cancellation): "
                "if process.returncode is None, process.kill(), then wait for it."
                if command.ended is None
                else "aclose() returned before the command was reaped (killed, but not "
                "waited for).\nTry: after process.kill(), wait for it."
            )
            + f"\n\n{self.timeline.draw()}"
        )


def finished_text(result: Any) -> str:
    """A result as a message shows it: long output cut short."""
    if not isinstance(result, Finished):
        return repr(result)
    parts = []
    for name in ("stdout", "stderr"):
        value = getattr(result, name)
        parts.append(
            f"{name}={value[:20]!r}... ({len(value):,} bytes)"
            if len(value) > 40
            else f"{name}={value!r}"
        )
    return (
        f"Finished(returncode={result.returncode!r}, {', '.join(parts)}, "
        f"timed_out={result.timed_out!r})"
    )


def suspended_at(generator: object) -> str:
    """Where an async generator is stopped: "`source line` (file.py:N)", or ""."""
    frame = getattr(generator, "ag_frame", None)
    if frame is None:
        return ""
    source = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"`{source}` ({Path(frame.f_code.co_filename).name}:{frame.f_lineno})"
