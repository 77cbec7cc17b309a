import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn

import many_connections
import pytest
from harness import Timeline, scaled

try:
    import resource  # Unix: the limit of open files a process may hold
except ImportError:  # Windows has no such limit to raise
    resource = None  # type: ignore[assignment]

HOST = "127.0.0.1"
CLIENTS = 1000
# Connections being opened at a time: fewer than the listen backlog (100 by default), so the
# kernel never drops a connection attempt (a dropped one is retried only a second later).
CONNECTING = 50
# How long a client waits for an answer before it concludes that none is coming.
PATIENCE = 0.5
LINES = [b"hello\n", b"a thousand connections\n", b"bye\n"]

Address = tuple[str, int]
Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


@asynccontextmanager
async def serving(timeline: Timeline) -> AsyncIterator[Address]:
    """The learner's server on an OS-chosen port; every handle() call is drawn on the timeline.

    When the test is done, every handle() call must have returned (its client has hung up) and
    closed its side of the connection.
    """
    writers: list[asyncio.StreamWriter] = []  # the server's end of every connection

    def label(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        writers.append(writer)
        return f"handle #{len(writers)}"

    timeline.spy(many_connections, "handle", label=label)
    server = await many_connections.start(HOST, 0)
    try:
        host, port = server.sockets[0].getsockname()[:2]
        yield host, port
        if await handlers_left(timeline):
            fail(
                f"{timeline.in_flight} handle() call(s) were still running "
                f"{scaled(PATIENCE):.2f} s after their client had hung up.\n"
                "Expected: handle() returns once readline() gives b'' (the client closed its "
                "side).\nTry: `while line := await reader.readline(): ...`, then close the "
                "writer and `await writer.wait_closed()`."
            )
        left_open = sum(not writer.is_closing() for writer in writers)
        if left_open:
            fail(
                f"Every client hung up and every handle() call returned, yet {left_open} of "
                f"the {len(writers)} connections were still open on the server's side: "
                "handle() never closed its writer, so each connection leaks a socket until "
                "the garbage collector finds it (a busy server runs out of files first).\n"
                "Try: `writer.close()` and `await writer.wait_closed()` at the end of "
                "handle(), in a `finally:` so that it also happens on an error."
            )
    finally:
        for writer in writers:  # what a wrong answer left open, so that the test's verdict stands
            writer.close()
        server.close()
        if hasattr(server, "close_clients"):  # 3.13+: wait_closed() waits for every connection
            server.close_clients()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), scaled(1.0))


async def handlers_left(timeline: Timeline) -> int:
    """Wait (a little) for the handle() calls still running to return; how many still run."""
    running = {s.task for s in timeline.spans if s.end is None and s.task is not None}
    if running:
        await asyncio.wait(running, timeout=scaled(PATIENCE))
    return timeline.in_flight


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def answer_to(reader: asyncio.StreamReader, line: bytes) -> bytes:
    """The server's answer to `line`, which the client has just sent."""
    answer = await patiently(reader.readline())
    if answer is None:
        fail(
            f"The client sent {line!r} and waited {scaled(PATIENCE):.2f} s: no answer came, "
            "though the connection stayed open.\n"
            "Expected: the answer to each line as soon as it arrives; this client sends its "
            "next line (or hangs up) only after the answer.\n"
            "Likely mistake: handle() reads until EOF (`await reader.read()`) before it answers: "
            "EOF comes only when the client hangs up, and the client waits for its answer "
            "first, so both wait forever.\n"
            "Try: one line at a time: `line = await reader.readline()`, write its answer, "
            "`await writer.drain()`, repeat."
        )
    return answer


async def patiently(read: Coroutine[Any, Any, bytes]) -> bytes | None:
    """What the read returns, or None if nothing came within PATIENCE (it is cancelled then)."""
    try:
        async with asyncio.timeout(scaled(PATIENCE)):
            return await read
    except TimeoutError:
        return None


@contextmanager
def open_files_for(connections: int) -> Iterator[None]:
    """Raise this process's soft limit of open files within its hard limit; restore it after."""
    if resource is None:
        yield
        return
    wanted = 2 * connections + 200  # a socket at each end of every connection, and some spare
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        fail(
            f"This test holds {connections} connections, {wanted} open files, but this "
            f"process may open at most {hard} (the hard limit). Raise it: `ulimit -Hn {wanted}`."
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def without_debug_mode() -> Iterator[None]:
    """asyncio's debug mode keeps a stack for every callback: 1,000 connections then take 7
    times as long. The other tests keep it on (it is how the guard sees a blocked loop)."""
    loop = asyncio.get_running_loop()
    debug = loop.get_debug()
    loop.set_debug(False)
    try:
        yield
    finally:
        loop.set_debug(debug)


async def connect_all(address: Address, clients: list[Client]) -> None:
    """Open CLIENTS connections, CONNECTING at a time; `clients` keeps each as it opens."""
    gate = asyncio.Semaphore(CONNECTING)

    async def connect() -> None:
        async with gate:
            clients.append(await asyncio.open_connection(*address))

    async with asyncio.TaskGroup() as tg:
        for _ in range(CLIENTS):
            tg.create_task(connect())


class SlowSteps(logging.Handler):
    """asyncio's reports (in debug mode) of a step that blocked the loop, while attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Executing"):
            self.seen.append(record)


async def first_answer_without_blocking(address: Address) -> None:
    """One round trip in debug mode first: a handle() that blocks the loop for a moment would
    block it a thousand times over in a row (minutes): stop here, and let the guard name it.

    On a connection of its own, closed before the thousand open: a server that serves one
    client at a time serves this one, whichever connection it would pick among a thousand."""
    loop, logger, slow = asyncio.get_running_loop(), logging.getLogger("asyncio"), SlowSteps()
    debug = loop.get_debug()
    loop.set_debug(True)
    logger.addHandler(slow)
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(b"first\n")
        await writer.drain()
        await answer_to(reader, b"first\n")
    finally:
        await hang_up(writer)
        logger.removeHandler(slow)
        loop.set_debug(debug)
        await asyncio.sleep(0)  # end this step now: it began in debug mode, so it is timed
    if slow.seen:
        fail("The event loop was blocked while the first client was answered.")


def question(number: int) -> bytes:
    return f"client {number} says hello\n".encode()


async def ask_everyone(clients: list[Client]) -> list[bytes | None]:
    """Every client sends its line and waits for the answer, all connections open together.

    Answers are awaited while they keep coming; a silence of PATIENCE ends the wait. A client
    that got nothing (or lost its connection) has None.
    """

    async def ask(number: int, reader: asyncio.StreamReader, writer: Any) -> bytes:
        writer.write(question(number))
        await writer.drain()
        return await reader.readline()

    asks = [asyncio.create_task(ask(n, *client)) for n, client in enumerate(clients)]
    pending = set(asks)
    while pending:
        done, pending = await asyncio.wait(pending, timeout=scaled(PATIENCE))
        if not done:
            break  # no answer for a while: the server is not going to answer
    for task in pending:
        task.cancel()
    await asyncio.gather(*asks, return_exceptions=True)
    return [t.result() if not t.cancelled() and t.exception() is None else None for t in asks]


@contextmanager
def quiet_cancelled_handlers() -> Iterator[None]:
    """Python 3.11 and 3.12 log a cancelled connection handler as an error of asyncio's own (its
    done-callback calls task.exception() on it; fixed in 3.13): keep just that one quiet."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), asyncio.CancelledError):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(report)
    try:
        yield
    finally:
        loop.set_exception_handler(previous)


async def test_each_line_is_answered_before_the_next_is_sent(timeline: Timeline) -> None:
    async with serving(timeline) as address:
        reader, writer = await asyncio.open_connection(*address)
        try:
            for line in LINES:
                writer.write(line)
                await writer.drain()
                answer = await answer_to(reader, line)
                if answer != line.upper():
                    fail(
                        f"The client sent {line!r} and got {answer!r}; expected "
                        f"{line.upper()!r}: the same line in capitals, newline included."
                        + (
                            "\nb'' means the server closed the connection: handle() must "
                            "keep answering until the client is done (readline() gives b'')."
                            if not answer
                            else ""
                        )
                    )
        finally:
            await hang_up(writer)


async def test_the_server_closes_the_connection_once_the_client_is_done(
    timeline: Timeline,
) -> None:
    async with serving(timeline) as address:
        reader, writer = await asyncio.open_connection(*address)
        try:
            writer.write(b"hello\nbye\n")
            writer.write_eof()  # "I am done sending": the server's readline() now gives b""
            received = await patiently(reader.read())  # every answer, up to the server's close
            if received is None:
                fail(
                    "The client sent two lines and closed its side (EOF); "
                    f"{scaled(PATIENCE):.2f} s later the server had never closed the "
                    "connection: handle() returned, but its socket is still open, and stays "
                    "open until the garbage collector finds it. A thousand such clients are a "
                    "thousand leaked sockets.\n"
                    "Expected: the answers, then the connection closed by the server.\n"
                    "Try: `writer.close()` and `await writer.wait_closed()` at the end of "
                    "handle(), in a `finally:` so that it also happens on an error."
                )
            if received != b"HELLO\nBYE\n":
                fail(
                    f"The client sent b'hello\\nbye\\n' and closed its side; it received "
                    f"{received!r} before the server closed the connection, expected "
                    "b'HELLO\\nBYE\\n': answer every line the client sent before you close."
                )
        finally:
            await hang_up(writer)


@pytest.mark.timeout(10)
async def test_a_thousand_clients_are_all_connected_and_answered_at_once(
    timeline: Timeline,
) -> None:
    with without_debug_mode():
        async with serving(timeline) as address:
            with open_files_for(CLIENTS):
                await first_answer_without_blocking(address)
                clients: list[Client] = []
                try:
                    started = time.perf_counter()
                    await connect_all(address, clients)
                    opened = time.perf_counter() - started
                    answers = await ask_everyone(clients)
                    alive = timeline.in_flight  # handle() calls running, every client connected
                finally:
                    await asyncio.gather(*(hang_up(writer) for _, writer in clients))
            setting = (
                f"{CLIENTS} clients connected (in {opened:.2f} s), then each sent one line and "
                "waited for its answer, every connection open"
            )
            expect_every_answer(answers, setting)
            if alive < CLIENTS:
                fail(
                    f"{setting}: all were answered, but only {alive} handle() calls were still "
                    f"running then: the server closed {CLIENTS - alive} connections whose "
                    "clients had not hung up.\n"
                    "Try: keep answering until readline() gives b'' (the client is done)."
                )


def expect_every_answer(answers: list[bytes | None], setting: str) -> None:
    __tracebackhide__ = True
    right = sum(answer == question(n).upper() for n, answer in enumerate(answers))
    if right == CLIENTS:
        return
    wrong = [(n, a) for n, a in enumerate(answers) if a is not None and a != question(n).upper()]
    if wrong:
        n, answer = wrong[0]
        fail(
            f"{setting}: client {n} got {answer!r}, expected {question(n).upper()!r} "
            f"({len(wrong)} clients got a wrong answer).\n"
            "Try: answer each line on the connection it came from, in capitals."
        )
    waited = f"the other {CLIENTS - right} waited {scaled(PATIENCE):.2f} s and no answer came"
    if right == 1:
        mistake = (
            "The server served ONE connection at a time: the next client is served only when "
            "the one before hangs up, and none of them hangs up before its answer.\n"
            "Likely mistake: a lock (or a Semaphore(1)) held for the whole conversation in "
            "handle(), or a server that awaits each client before it accepts the next.\n"
            "Try: let every handle() call run on its own (asyncio.start_server gives each "
            "connection a task); hold a lock, if you need one, only around the few lines that "
            "touch shared state, never across an `await reader.readline()`."
        )
    elif right == 0:
        mistake = (
            "No client was served at all while they were all connected.\n"
            "Likely mistake: handle() waits for something that comes only when clients hang up "
            "(EOF: `await reader.read()`), or answers nothing.\n"
            "Try: answer each line as it comes: `line = await reader.readline()`."
        )
    else:
        mistake = (
            f"That looks like a cap of {right} connections served at once: the rest wait for "
            "a free slot, and no slot frees up, since no client hangs up before its answer.\n"
            f"Likely mistake: a Semaphore({right}) (or a counter) around the conversation in "
            "handle(), or a pool of workers that serve one client each.\n"
            "Try: no limit here: every connection gets its own handle() task, and a thousand "
            "of them waiting in readline() cost nearly nothing."
        )
    fail(f"{setting}: only {right} of them got an answer; {waited}.\n{mistake}")


async def test_a_cancelled_handler_closes_its_connection_and_stays_cancelled(
    timeline: Timeline,
) -> None:
    async with serving(timeline) as address:
        reader, writer = await asyncio.open_connection(*address)
        try:
            writer.write(LINES[0])
            await writer.drain()
            await answer_to(reader, LINES[0])  # handle() now waits for the next line
            handler = timeline.span("handle #1").task
            assert handler is not None
            with quiet_cancelled_handlers():
                handler.cancel()  # what a server shutting down, or asyncio.run ending, does
                done, _ = await asyncio.wait({handler}, timeout=scaled(PATIENCE))
                await asyncio.sleep(0)  # let asyncio's own done-callback run meanwhile
            if not done:
                fail(
                    f"handle() was cancelled while it waited for a line, and "
                    f"{scaled(PATIENCE):.2f} s later it was still running: it caught the "
                    "CancelledError and went on (the task group, server or asyncio.run that "
                    "cancelled it now waits forever).\n"
                    "Try: never catch CancelledError to carry on; clean up in `finally:`."
                )
            if not handler.cancelled():
                fail(
                    "handle() was cancelled while it waited for a line, and it returned "
                    "normally: it swallowed the CancelledError (an `except "
                    "asyncio.CancelledError:` that does not re-raise, or a bare `except:`). "
                    "Whoever cancelled it (a task group, asyncio.run, a timeout) now believes "
                    "it finished its work.\n"
                    "Expected: the task ends cancelled, after closing its connection.\n"
                    "Try: do the cleanup in `finally:` and let the CancelledError go on; if you "
                    "must catch it, end the `except` block with `raise`."
                )
            rest = await patiently(reader.read())
            if rest is None:
                fail(
                    "handle() was cancelled and ended, but the server never closed the "
                    "connection: the client is still connected to nobody.\n"
                    "Try: close the writer in a `finally:` around the whole conversation, so "
                    "that cancellation closes it too."
                )
            if rest:
                fail(f"After its cancellation, handle() still sent {rest!r}; expected nothing.")
        finally:
            await hang_up(writer)
