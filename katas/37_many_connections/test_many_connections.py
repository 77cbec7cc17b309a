from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import linecache
import logging
import os
import socket
import struct
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import many_connections
import pytest
from harness import Timeline, fail, outcome, patiently, raised, scaled, waiting_at

try:
    import resource  # Unix: the limit of open files a process may hold
except ImportError:  # Windows has no such limit to raise
    resource = None  # type: ignore[assignment]

HOST = "127.0.0.1"
# How many clients the big test connects at once: 1,000 by default; `nox -s stress` asks for
# 10,000 (tests/stress.py sets KATA_CONNECTIONS) and collects the figures in KATA_FIGURES.
CLIENTS = int(os.environ.get("KATA_CONNECTIONS", "1000"))
FIGURES = os.environ.get("KATA_FIGURES", "")
# Open files a process needs besides its connections: pytest, the listening socket, pipes.
SPARE = 100
# Connections being opened at a time: fewer than the listen backlog (100 by default), so the
# kernel never drops a connection attempt (a dropped one is retried only a second later).
CONNECTING = 50
# How long a client waits for an answer before it concludes that none is coming.
PATIENCE = 0.5
LINES = [b"hello\n", b"a thousand connections\n", b"bye\n"]
# A client that stops reading sends this much meanwhile, in lines of 1 KiB: far more than the
# buffers of its connection hold, made small at both ends.
FLOOD = 4 * 1024 * 1024
SMALL_BUFFER = 16 * 1024
# A handle() that waits in drain() holds about 64 KiB of answers (the transport's high-water
# mark); one that writes without waiting holds all of them.
BUFFERED_AT_MOST = 1024 * 1024
# How long the flood must make no progress before the test calls it stalled.
STILL = 0.1

Address = tuple[str, int]


async def test_each_line_is_answered_before_the_next_is_sent(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(timeline, monkeypatch) as served:
        reader, writer = await asyncio.open_connection(*served.address)
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
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(timeline, monkeypatch) as served:
        reader, writer = await asyncio.open_connection(*served.address)
        try:
            writer.write(b"hello\nbye")  # the last line without its newline, as `nc` sends it
            writer.write_eof()  # "I am done sending": the server's readline() now gives b""
            received = await patiently(
                reader.read(), PATIENCE
            )  # every answer, up to the server's close
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
            if received != b"HELLO\nBYE":
                fail(
                    f"The client sent b'hello\\nbye' and closed its side; it received "
                    f"{received!r} before the server closed the connection, expected "
                    "b'HELLO\\nBYE': answer every line the client sent before you close, "
                    "the last one too, without its newline if it came without one."
                    + (
                        "\nThe last line, b'bye', came without a newline and got no answer: "
                        "readline() returns it as it is at EOF, while readuntil(b'\\n') raises "
                        "IncompleteReadError on it (its `partial` holds the line)."
                        if received == b"HELLO\n"
                        else ""
                    )
                )
        finally:
            await hang_up(writer)


async def test_handle_returns_only_once_its_connection_is_closed(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(timeline, monkeypatch) as served:
        reader, writer = await asyncio.open_connection(*served.address)
        try:
            writer.write(b"hello\n")
            writer.write_eof()
            await patiently(reader.read(), PATIENCE)
        finally:
            await hang_up(writer)
        await handlers_left(timeline)
        [connection] = served.connections
        if connection.returned and not connection.closing_at_return:
            fail(
                "The client sent a line and closed its side (EOF); handle() returned without "
                "closing its connection: its socket stays open until the garbage collector "
                "finds it.\n"
                "Try: `writer.close()` and `await writer.wait_closed()` in a `finally:`."
            )
        if connection.returned and connection.open_at_return:
            fail(
                "The client sent a line and closed its side (EOF); handle() called "
                "writer.close() and returned while the connection's socket was still open: "
                "close() only starts closing, the socket is closed a moment later, after "
                "handle() has returned. Whoever awaits handle() (a TaskGroup, a server "
                "shutting down, asyncio.run) then believes the connection is gone when it is "
                "not, and an error of the close is lost.\n"
                "Likely mistake: writer.close() without `await writer.wait_closed()`.\n"
                "Try: `writer.close()`, then `await writer.wait_closed()`: it returns once the "
                "connection is really closed."
            )


@pytest.mark.timeout(10 + CLIENTS / 500)
async def test_a_thousand_clients_are_all_connected_and_answered_at_once(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    with without_debug_mode():
        async with serving(timeline, monkeypatch) as served:
            with open_files_for(CLIENTS) as count:
                await first_answer_without_blocking(served.address)
                async with clients_process(served.address, count) as clients:
                    opened = await clients.open_all(served)
                    if opened["opened"] < count:
                        fail(
                            f"Of {count} clients, only {opened['opened']} could connect in "
                            f"{opened['seconds']:.2f} s: {opened['error']}."
                        )
                    answers = await clients.report()
                    alive = timeline.in_flight  # handle() calls running, every client connected
            setting = (
                f"{count} clients connected (in {opened['seconds']:.2f} s), then each sent one "
                "line and waited for its answer, every connection open"
            )
            expect_every_answer(answers, count, setting)
            if alive < count:
                fail(
                    f"{setting}: all were answered, but only {alive} handle() calls were still "
                    f"running then: the server closed {count - alive} connections whose "
                    "clients had not hung up.\n"
                    "Try: keep answering until readline() gives b'' (the client is done)."
                )
    note(
        f"{count} connections opened in {opened['seconds']:.2f} s, {timeline.peak} handle() "
        f"calls running at the peak, every client answered in {answers['seconds']:.2f} s."
    )


def expect_every_answer(answers: dict[str, Any], count: int, setting: str) -> None:
    __tracebackhide__ = True
    right = answers["right"]
    if right == count:
        return
    if answers["wrong"]:
        number, answer = answers["first_wrong"]
        fail(
            f"{setting}: client {number} got {answer}, expected "
            f"b'client {number} says hello\\n' in capitals ({answers['wrong']} clients got a "
            "wrong answer).\n"
            "Try: answer each line on the connection it came from, in capitals."
        )
    waited = f"the other {count - right} waited {scaled(PATIENCE):.2f} s and no answer came"
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
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(timeline, monkeypatch) as served:
        reader, writer = await asyncio.open_connection(*served.address)
        try:
            writer.write(LINES[0])
            await writer.drain()
            await answer_to(reader, LINES[0])  # handle() now waits for the next line
            handler = timeline.span("handle #1").task
            assert handler is not None
            with quiet_handler_errors(asyncio.CancelledError):
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
            rest = await patiently(reader.read(), PATIENCE)
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


@dataclass
class Flood:
    """A client that sends FLOOD bytes of lines and reads none of the answers (yet)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server_end: Connection
    sent: int = 0

    async def send(self) -> None:
        chunk = (b"x" * 1023 + b"\n") * 64
        while self.sent < FLOOD:
            self.writer.write(chunk)
            await self.writer.drain()
            self.sent += len(chunk)

    def buffered(self) -> int:
        """The answers the server holds for this client in memory, in bytes."""
        return self.server_end.writer.transport.get_write_buffer_size()


@asynccontextmanager
async def flooding(served: Served) -> AsyncIterator[Flood]:
    """Yields once the client has sent all FLOOD bytes, or once nothing moved for STILL s (its
    sending stalled); then it reads every answer, checks them, and hangs up."""
    sock = socket.socket()
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        await asyncio.get_running_loop().sock_connect(sock, served.address)
        reader, writer = await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
    try:
        await served.arrived.wait()  # handle() starts: make the server's buffer small too
        server_end = served.connections[-1]
        server_sock = server_end.writer.get_extra_info("socket")
        server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        flood = Flood(reader, writer, server_end)
        sending = asyncio.create_task(flood.send())
        try:
            seen = (-1, -1)
            while not sending.done() and seen != (flood.sent, flood.buffered()):
                seen = (flood.sent, flood.buffered())
                await asyncio.wait({sending}, timeout=scaled(STILL))
            await asyncio.sleep(scaled(STILL))  # what was sent is read and answered meanwhile
            yield flood
            answers = await answers_while_they_come(reader, FLOOD)
        finally:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        if answers is None or answers != (b"X" * 1023 + b"\n") * (FLOOD // 1024):
            fail(
                f"A client sent {FLOOD // 1024} lines of 1 KiB without reading, then read the "
                f"answers: {'they did not all come' if answers is None else 'some were wrong'}."
                "\nExpected: every line answered in capitals, in order."
            )
    finally:
        await hang_up(writer)


async def answers_while_they_come(reader: asyncio.StreamReader, size: int) -> bytes | None:
    """`size` bytes of answers, read for as long as some come within PATIENCE s of the last:
    None if they stop (or the connection ends) before. 4 MiB of answers take the server a
    while on a busy machine, so what is bounded is the silence, not the whole read."""
    got = bytearray()
    while len(got) < size:
        chunk = await patiently(reader.read(size - len(got)), PATIENCE)
        if not chunk:  # nothing within PATIENCE s (None), or the end of the connection (b"")
            return None
        got += chunk
    return bytes(got)


async def test_a_client_that_stops_reading_makes_its_handler_wait_not_hoard(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(timeline, monkeypatch) as served, flooding(served) as flood:
        held = flood.buffered()
        if held > BUFFERED_AT_MOST:
            _, line = waiting_at(timeline.span("handle #1").task, many_connections)
            fail(
                f"A client sent {flood.sent // 1024} lines of 1 KiB and read none of the "
                f"answers; the server then held {held / 2**20:.1f} MiB of answers in memory for "
                f"it, and its handle() was still reading{f' (at {line})' if line else ''}.\n"
                "Expected: handle() waits while the client does not read, holding at most the "
                "transport's buffer (64 KiB): then the server stops reading too, and the "
                "client's own sending stops. A thousand such clients would take gigabytes.\n"
                "Likely mistake: writer.write() without `await writer.drain()`: write() only "
                "adds to a buffer that nothing limits.\n"
                "Try: `writer.write(answer)`, then `await writer.drain()`: it waits while the "
                "buffer is above its high-water mark."
            )


async def test_a_client_that_stops_reading_holds_up_no_other_client(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(timeline, monkeypatch) as served, flooding(served) as flood:
        reader, writer = await asyncio.open_connection(*served.address)
        try:
            writer.write(b"hello\n")
            await writer.drain()
            answer = await patiently(reader.readline(), PATIENCE)
        finally:
            await hang_up(writer)
        if answer != b"HELLO\n":
            names, line = waiting_at(timeline.span("handle #2").task, many_connections)
            stalled, _ = waiting_at(timeline.span("handle #1").task, many_connections)
            locked = any(n.endswith((".acquire", ".__aenter__")) for n in names)
            fail(
                f"A client sent {flood.sent // 1024} lines of 1 KiB and stopped reading; "
                f"another client then sent b'hello\\n' and got "
                f"{'nothing' if answer is None else repr(answer)} within "
                f"{scaled(PATIENCE):.2f} s: one client that does not read held up another."
                + (f"\nThe second client's handle() was waiting at {line}" if line else "")
                + (
                    ", for a lock that the first one's handle() holds across its drain(), "
                    "which waits for a client that reads nothing: a lock held across an await "
                    "that does not need it.\n"
                    "Try: nothing is shared between two connections here: no lock at all; "
                    "each handle() writes to its own writer."
                    if locked and any(n.endswith("drain") for n in stalled)
                    else "."
                )
            )


async def test_a_client_that_resets_its_connection_disturbs_no_one(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(timeline, monkeypatch) as served:
        reader, writer = await asyncio.open_connection(*served.address)  # a client that stays
        try:
            writer.write(LINES[0])
            await writer.drain()
            await answer_to(reader, LINES[0])
            with quiet_handler_errors(ConnectionError):  # this test reports them itself
                await reset_after_a_line(served.address)
                handler = timeline.span("handle #2").task
                assert handler is not None
                await asyncio.wait({handler}, timeout=scaled(PATIENCE))
                await asyncio.sleep(0)  # let asyncio's own done-callback run meanwhile
            reset = (
                f"A client sent {LINES[0]!r}, got its answer, then reset the connection (an "
                "RST, not the EOF of a clean close: a client that quits with answers unread, a "
                "firewall dropping the connection)"
            )
            if not handler.done():
                _, line = waiting_at(handler, many_connections)
                fail(
                    f"{reset}; {scaled(PATIENCE):.2f} s later its handle() was still running"
                    f"{f' (at {line})' if line else ''}.\n"
                    "Expected: handle() ends, its connection closed: the client is gone."
                )
            if raised(handler, Exception):
                fail(
                    f"{reset}; its handle() then {outcome(handler)}. An error that leaves "
                    "handle() reaches no one who can catch it: asyncio can only log it, a "
                    "traceback for every client that drops.\n"
                    "Expected: handle() ends quietly, its connection closed: the client is "
                    "gone, nobody is left to answer.\n"
                    "After a reset, readline() (or drain()) raises ConnectionResetError, and "
                    "`await writer.wait_closed()` raises it once more.\n"
                    "Try: catch ConnectionError (a reset, a broken pipe) around the "
                    "conversation, and around `await writer.wait_closed()` too "
                    "(`with contextlib.suppress(ConnectionError):`); the `finally:` still closes "
                    "the writer."
                )
            answers = {"a client connected before it": await exchange(reader, writer, LINES[1])}
        finally:
            await hang_up(writer)
        reader, writer = await asyncio.open_connection(*served.address)
        try:
            answers["a client connecting after it"] = await exchange(reader, writer, LINES[2])
        finally:
            await hang_up(writer)
    for (who, answer), sent in zip(answers.items(), LINES[1:], strict=True):
        if answer != sent.upper():
            fail(
                f"A client reset its connection; then {who} sent {sent!r} and got "
                f"{repr(answer) if answer else 'no answer'} within {scaled(PATIENCE):.2f} s; "
                f"expected {sent.upper()!r}.\n"
                "Expected: a client that drops changes nothing for the others: every other "
                "connection is served as before, and new ones are accepted."
            )


@dataclass
class Connection:
    """The server's end of one connection, as the test saw its handle() call."""

    writer: asyncio.StreamWriter
    returned: bool = False  # handle() returned (was not cancelled, did not raise)
    closing_at_return: bool = False  # ... after writer.close()
    open_at_return: bool = False  # ... while the connection's socket was still open


@dataclass
class Served:
    """The learner's server: its address and every connection it served, in order."""

    address: Address = ("", 0)
    connections: list[Connection] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # a handle() call began


def socket_open(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    return sock is not None and sock.fileno() != -1


@asynccontextmanager
async def serving(timeline: Timeline, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    """The learner's server on an OS-chosen port; every handle() call is drawn on the timeline.

    When the test is done, every handle() call must have returned (its client has hung up) and
    closed its side of the connection.
    """
    served = Served()
    original = many_connections.handle

    async def watched(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(writer)
        served.connections.append(connection)
        served.arrived.set()
        await original(reader, writer)
        connection.returned = True
        connection.closing_at_return = writer.is_closing()
        connection.open_at_return = socket_open(writer)

    numbers = itertools.count(1)
    monkeypatch.setattr(many_connections, "handle", watched)
    timeline.spy(many_connections, "handle", label=lambda *_: f"handle #{next(numbers)}")
    server = await many_connections.start(HOST, 0)
    try:
        served.address = server.sockets[0].getsockname()[:2]
        yield served
        if await handlers_left(timeline):
            fail(
                f"{timeline.in_flight} handle() call(s) were still running "
                f"{scaled(PATIENCE):.2f} s after their client had hung up.\n"
                "Expected: handle() returns once readline() gives b'' (the client closed its "
                "side).\nTry: `while line := await reader.readline(): ...`, then close the "
                "writer and `await writer.wait_closed()`."
            )
        left_open = sum(not c.writer.is_closing() for c in served.connections)
        if left_open:
            fail(
                f"Every client hung up and every handle() call returned, yet {left_open} of "
                f"the {len(served.connections)} connections were still open on the server's "
                "side: handle() never closed its writer, so each connection leaks a socket "
                "until the garbage collector finds it (a busy server runs out of files first).\n"
                "Try: `writer.close()` and `await writer.wait_closed()` at the end of "
                "handle(), in a `finally:` so that it also happens on an error."
            )
    finally:
        for connection in served.connections:  # what a wrong answer left open
            connection.writer.close()
        # ... and left running: stopped here, while the big test still runs without debug mode
        # (cancelling ten thousand of them in debug mode takes long enough to look blocked).
        running = [s.task for s in timeline.spans if s.task is not None and not s.task.done()]
        with quiet_handler_errors(asyncio.CancelledError):
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running, timeout=scaled(1.0))
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


async def reset_after_a_line(address: Address) -> None:
    """A client that sends a line, reads its answer and resets the connection: SO_LINGER 0
    makes its close send an RST, not a FIN (as a close with unread data does)."""
    reader, writer = await asyncio.open_connection(*address)
    answer = await exchange(reader, writer, LINES[0])
    if answer != LINES[0].upper():  # else its handle() now waits for the next line
        await hang_up(writer)
        fail(
            f"While a first client stayed connected, a second one sent {LINES[0]!r} and got "
            f"{repr(answer) if answer else 'no answer'} within {scaled(PATIENCE):.2f} s; "
            f"expected {LINES[0].upper()!r}.\n"
            "Expected: every connection served at once, each by a handle() of its own."
        )
    linger = struct.pack("ii", 1, 0)  # on, 0 seconds
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    writer.transport.abort()


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes
) -> bytes | None:
    """The server's answer to one line; None if none came in time or the connection broke."""
    with contextlib.suppress(ConnectionError):
        writer.write(line)
        await writer.drain()
        return await patiently(reader.readline(), PATIENCE)
    return None


async def answer_to(reader: asyncio.StreamReader, line: bytes) -> bytes:
    """The server's answer to `line`, which the client has just sent."""
    answer = await patiently(reader.readline(), PATIENCE)
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


def note(line: str) -> None:
    """A figure of the big test, for `nox -s stress` to print (when it asks for them)."""
    if FIGURES:
        with open(FIGURES, "a", encoding="utf-8") as figures:
            figures.write(f"37_many_connections: {line}\n")


@contextmanager
def open_files_for(connections: int) -> Iterator[int]:
    """Raise this process's soft limit of open files (within the hard limit) so that it can
    hold `connections`; restore it after. Yields how many connections fit: all of them, or
    as many as the OS allows (said in one line, among the figures)."""
    if resource is None:
        yield connections
        return
    wanted = connections + SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = soft
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        why = "its hard limit, ulimit -Hn"
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        except (ValueError, OSError):  # refused (macOS caps it below "unlimited")
            limit, why = soft, "the OS refused to raise ulimit -n"
    fits = connections if limit == resource.RLIM_INFINITY else min(connections, limit - SPARE)
    if fits < connections:
        note(
            f"asked for {connections} connections, but a process may open only {limit} files "
            f"here ({why}): running {fits}."
        )
    try:
        yield fits
    finally:
        if limit != soft:
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


def clients() -> None:
    """The client ends of the big test's connections, in a process of their own (the test
    starts it with the source of this function): one process may not hold enough files for
    both ends of 10,000 connections.

    Arguments: host port count connecting patience. It opens `count` connections, `connecting`
    at a time: after each batch it writes {"opened"} and waits for a line "go" on its stdin,
    which the test writes once the server has accepted them all (a connection the server has
    not accepted yet waits in the listen backlog, and one more than the backlog holds is
    dropped, then tried again a second later). Once they are open it writes {"opened",
    "seconds", "error"}; then every client sends its line and waits for the answer, all at
    once (a silence of `patience` seconds ends the wait), and it writes {"right", "wrong",
    "first_wrong", "seconds"}; then it waits for its stdin to close, hangs up every connection
    and ends.
    """
    import asyncio
    import json
    import sys
    import time

    host, port, count, connecting, patience = sys.argv[1:6]

    def question(number: int) -> bytes:
        return f"client {number} says hello\n".encode()

    def say(**figures: object) -> None:
        print(json.dumps(figures), flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]
        opened: list[Client] = []

        async def connect() -> None:
            opened.append(await asyncio.open_connection(host, int(port)))

        started, error = time.perf_counter(), ""
        while len(opened) < int(count) and not error:
            try:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(min(int(connecting), int(count) - len(opened))):
                        tg.create_task(connect())
            except* OSError as errors:
                error = repr(errors.exceptions[0])
            say(opened=len(opened))
            if (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "go":
                error = error or "the test said stop"
        say(opened=len(opened), seconds=time.perf_counter() - started, error=error)

        async def ask(
            number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> bytes:
            writer.write(question(number))
            await writer.drain()
            return await reader.readline()

        started = time.perf_counter()
        asks = [asyncio.create_task(ask(n, *client)) for n, client in enumerate(opened)]
        pending = set(asks)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=float(patience))
            if not done:
                break  # no answer for a while: the server is not going to answer
        for task in pending:
            task.cancel()
        await asyncio.gather(*asks, return_exceptions=True)
        answers = [t.result() if not t.cancelled() and not t.exception() else None for t in asks]
        wrong = [(n, a) for n, a in enumerate(answers) if a and a != question(n).upper()]
        say(
            right=sum(a == question(n).upper() for n, a in enumerate(answers)),
            wrong=len(wrong),
            first_wrong=[wrong[0][0], repr(wrong[0][1])] if wrong else None,
            seconds=time.perf_counter() - started,
        )
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for _, writer in opened:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for _, w in opened), return_exceptions=True)

    asyncio.run(main())


class Clients:
    """The process holding the client ends (see clients()), and what it reports."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def report(self) -> dict[str, Any]:
        assert self.process.stdout is not None and self.process.stderr is not None
        line = await self.process.stdout.readline()
        if not line:
            await self.process.wait()
            fail(
                "The process that opens the clients' connections ended without a word "
                f"(exit {self.process.returncode}):\n{(await self.process.stderr.read()).decode()}"
            )
        figures: dict[str, Any] = json.loads(line)
        return figures

    async def open_all(self, served: Served) -> dict[str, Any]:
        """Let the process open its connections, a batch at a time: each once the server has
        accepted the last one. Its figures, once they are all open."""
        assert self.process.stdin is not None
        before = len(served.connections)
        while "seconds" not in (figures := await self.report()):
            try:
                async with asyncio.timeout(scaled(PATIENCE)):
                    while len(served.connections) - before < figures["opened"]:
                        served.arrived.clear()
                        await served.arrived.wait()
            except TimeoutError:
                self.process.stdin.write(b"stop\n")
                fail(
                    f"{figures['opened']} clients had connected, and {scaled(PATIENCE):.2f} s "
                    f"later the server had served only {len(served.connections) - before} of "
                    "them with handle(): start() must serve every connection with handle()."
                )
            self.process.stdin.write(b"go\n")
        return figures


@asynccontextmanager
async def clients_process(address: Address, count: int) -> AsyncIterator[Clients]:
    """Start the clients' process; on the way out, have it hang up, and wait until it ends."""
    source = f"{inspect.getsource(clients)}\nclients()\n"
    arguments = [*map(str, address), str(count), str(CONNECTING), str(scaled(PATIENCE))]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        source,
        *arguments,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Clients(process)
    finally:
        assert process.stdin is not None
        process.stdin.close()  # hang up, every client
        try:
            await asyncio.wait_for(process.wait(), scaled(5.0))
        except TimeoutError:
            process.kill()
            await process.wait()


@contextmanager
def quiet_handler_errors(kind: type[BaseException]) -> Iterator[None]:
    """Keep asyncio from logging a connection handler that ended with an error of this kind,
    for a test that reports it itself. (Python 3.11 and 3.12 log a cancelled handler as an
    error of asyncio's own, too: its done-callback calls task.exception() on it.)"""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), kind):
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
