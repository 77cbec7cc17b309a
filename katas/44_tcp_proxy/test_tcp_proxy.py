from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import socket
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest
import tcp_proxy
from harness import (
    Span,
    Timeline,
    cancel_midway,
    fail,
    patiently,
    scaled,
    started_tasks,
    waiting_at,
)

HOST = "127.0.0.1"
# How long a client waits for bytes that should come at once, or for the end of a connection.
PATIENCE = 0.5
LINES = [b"hello\n", b"how are you?\n", b"bye\n"]
# An interactive upstream asks first, without a newline (the answer goes on the same line).
PROMPT, NAME, GREETING = b"name? ", b"ada\n", b"hello, ada\n"
# A request that ends with the client's EOF ("that is all"); the upstream answers it, reversed,
# once it has seen that EOF. Every byte value, both ways.
REQUEST = bytes(range(256)) * 256
# To the line b"flood\n" the upstream answers 16 MiB: far more than every buffer on the way
# holds, the kernel's made small at every hop (128 KiB asked, 256 KiB given).
FLOOD = bytes(range(256)) * (16 * 1024 * 1024 // 256)
SMALL_BUFFER = 128 * 1024
# What the upstream may send to a client that reads nothing: the buffers on the way (the
# kernel's, the proxy's reader and write buffer, the upstream's own) hold about 1.3 MiB.
HELD_AT_MOST = 4 * 1024 * 1024
# A write buffer above this is a proxy that writes without waiting: drain() waits above 64 KiB.
BUFFERED_AT_MOST = 1024 * 1024
# How long nothing may move before the flood is called stalled; a waiting pipe sleeps meanwhile.
STILL = 0.2
TO_UPSTREAM, TO_CLIENT = "client → upstream", "upstream → client"
UNENDED = Span("", 0.0)  # what a call not made yet looks like: it has not ended


async def test_requests_and_answers_take_turns_over_one_connection(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(answers_each_line, timeline, monkeypatch) as proxy:
        client = await proxy.connect()
        for line in LINES:
            await client.send(line)
            got = await client.receive(len(line))
            if got != line.upper():
                proxy.explain(
                    f"The client sent {line!r} and waited for its answer",
                    line.upper(),
                    got,
                    sent=line,
                )
        await client.hang_up()


async def test_a_prompt_without_a_newline_reaches_the_client_at_once(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(asks_a_name, timeline, monkeypatch) as proxy:
        client = await proxy.connect()
        got = await client.receive(len(PROMPT))
        if got != PROMPT:
            proxy.explain(
                f"The upstream asked {PROMPT!r} (no newline: the answer goes on the same line)",
                PROMPT,
                got,
            )
        await client.send(NAME)
        got = await client.receive(len(GREETING))
        if got != GREETING:
            proxy.explain(f"The client answered {NAME!r}", GREETING, got, sent=NAME)
        await client.hang_up()


async def test_the_clients_eof_reaches_the_upstream_and_its_answer_still_comes_back(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(answers_once_the_request_is_complete, timeline, monkeypatch) as proxy:
        client = await proxy.connect()
        await client.send(REQUEST)
        client.writer.write_eof()  # "that is all": the upstream answers once it sees this EOF
        got = await client.receive_to_end()
        if got != REQUEST[::-1]:
            proxy.explain_the_eof(got)
        await client.hang_up()


async def test_when_the_upstream_closes_the_client_sees_the_end(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(says_bye_and_closes, timeline, monkeypatch) as proxy:
        client = await proxy.connect()
        got = await client.receive_to_end()
        if got != b"bye\n":
            setting = "The upstream sent b'bye\\n' and closed its connection; the client read on"
            if got is None and not proxy.raised(1):
                fail(
                    f"{setting}, and did not see the end within {scaled(PATIENCE):.2f} s "
                    f"(it got {client.partial!r}): it waits for more from an upstream that is "
                    f"gone.\n{proxy.status(1)}\n"
                    "Expected: b'bye\\n', then the end (read() returns b'').\n"
                    "Try: when pipe() reaches its reader's EOF, pass it on to its writer.\n\n"
                    + timeline.draw()
                )
            proxy.explain(setting, b"bye\n", got)
        await client.hang_up()


@pytest.mark.timeout(10)  # 16 MiB through the proxy, on a busy machine
async def test_a_client_that_stops_reading_holds_the_upstream_back(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(answers_each_line, timeline, monkeypatch) as proxy, flooded(proxy) as flood:
        if flood.peer.sent <= HELD_AT_MOST:
            return
        held = flood.buffered()
        setting = (
            f"A client asked the upstream for {mib(len(FLOOD))} through the proxy and read none "
            f"of it; the upstream was not held back: it had sent {mib(flood.peer.sent)} and went "
            f"on, and the proxy's write buffer to the client held {mib(held)}"
        )
        expected = (
            f"Expected: the upstream held back after {mib(HELD_AT_MOST)} at most (what the "
            "buffers on the way hold), since the proxy stops reading from it while the client "
            "does not read: a slow reader slows its sender down, and costs the proxy no memory. "
            "A thousand slow clients would take gigabytes."
        )
        if held > BUFFERED_AT_MOST:
            fail(
                f"{setting}: {flood.pipe.label} went on reading from the upstream and writing to "
                f"a client that took nothing.\n{expected}\n"
                "Likely mistake: writer.write() without `await writer.drain()`: write() only "
                "adds to a buffer that nothing limits.\n"
                "Try: `writer.write(data)`, then `await writer.drain()`: it waits while the "
                "buffer is above its high-water mark (64 KiB), and pipe() reads no more meanwhile."
            )
        fail(
            f"{setting}: the rest waits in the proxy's memory somewhere between reading and "
            f"writing: {flood.pipe.label} read on from the upstream without waiting until the "
            f"client had taken what it had read before (in a queue, a list or a buffer of its "
            f"own, with no limit).\n{expected}\n"
            "Try: read the next chunk only once the last one is written and drained: "
            "`writer.write(data)`, `await writer.drain()`, then `await reader.read(...)` again."
        )


@pytest.mark.timeout(10)
async def test_a_pipe_waits_for_a_slow_client_without_polling(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    with started_tasks(count_wakeups=True) as started:
        async with (
            proxy_to(answers_each_line, timeline, monkeypatch) as proxy,
            flooded(proxy) as flood,
        ):
            for _ in range(5):  # a window in which nothing moved: the kernel may let a few KiB on
                for probe in started.wakeups.values():
                    probe.woken = 0
                buffered = flood.buffered()
                await asyncio.sleep(scaled(STILL))  # a waiting pipe sleeps through it
                if flood.buffered() == buffered:
                    break
            started.expect_no_polling(
                most=2,
                what=f"{scaled(STILL):.2f} s in which the client read nothing and nothing moved",
                wait_on="`await writer.drain()`",
                timeline=timeline,
            )


@pytest.mark.timeout(10)
async def test_a_client_that_stops_reading_holds_up_no_other_client(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(answers_each_line, timeline, monkeypatch) as proxy, flooded(proxy):
        other = await proxy.connect()
        await other.send(LINES[0])
        got = await other.receive(len(LINES[0]))
        if got != LINES[0].upper():
            proxy.explain(
                f"A client asked the upstream for {mib(len(FLOOD))} and stopped reading; "
                f"meanwhile another client sent {LINES[0]!r}",
                LINES[0].upper(),
                got,
                relay=2,
                sent=LINES[0],
            )
        await other.hang_up()


async def test_a_cancelled_relay_closes_both_connections_and_stays_cancelled(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with upstream_running(answers_each_line) as upstream, accepted() as (client, server_end):
        proxy = Proxy(timeline, upstream)
        proxy.watch(monkeypatch, relays=False)  # the test calls relay() itself
        proxy.adopt(*server_end)
        await client.send(LINES[0])  # answered before the cancellation comes
        await cancel_midway(
            tcp_proxy.relay(*server_end, HOST, upstream.port),
            after=STILL,
            what=f"relay() (its client had sent {LINES[0]!r})",
            timeline=timeline,
        )
        got = await client.receive_to_end()
        peer = upstream.peers[0] if upstream.peers else None
        upstream_closed = peer is not None and await upstream.changes.until(
            lambda: peer.closed, PATIENCE
        )
    if got is None:
        fail(
            f"relay() was cancelled, and {scaled(PATIENCE):.2f} s later its client's connection "
            "was still open: the client waits on a proxy that is gone.\n"
            "Expected: a cancelled relay() closes both connections before it ends.\n"
            "Try: close both writers in a `finally:` around the whole relay, so that a "
            "cancellation closes them too, and `await writer.wait_closed()`."
        )
    if peer is not None and not upstream_closed:
        fail(
            f"relay() was cancelled, and {scaled(PATIENCE):.2f} s later its connection to the "
            "upstream was still open: the upstream waits on a proxy that is gone.\n"
            "Expected: a cancelled relay() closes both connections before it ends.\n"
            "Try: close the connection to the upstream in the `finally:` too, and "
            "`await writer.wait_closed()`."
        )


async def test_an_upstream_that_resets_closes_the_clients_connection_quietly(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(resets_after_a_line, timeline, monkeypatch) as proxy:
        client = await proxy.connect()
        await client.send(LINES[0])
        got = await client.receive_to_end()
        setting = (
            f"The client sent {LINES[0]!r}; the upstream read it and reset its connection (an "
            "RST, not the EOF of a clean close: it crashed, or a firewall dropped the connection)"
        )
        if got is None:
            fail(
                f"{setting}. {scaled(PATIENCE):.2f} s later the client's connection was still "
                f"open: it waits on a proxy connection that leads nowhere.\n{proxy.status(1)}\n"
                "Expected: the reset ends the relay: both connections closed, the client sees "
                "the end.\n"
                "Try: let the error out of pipe() and run both pipes in an asyncio.TaskGroup: "
                "when one fails, it cancels the other; then close both connections.\n\n"
                + timeline.draw()
            )
        await proxy.expect_a_quiet_end(1, setting)
        await client.hang_up()


async def test_a_client_that_resets_closes_the_upstream_connection_quietly(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with proxy_to(answers_each_line, timeline, monkeypatch) as proxy:
        client = await proxy.connect()
        await client.send(LINES[0])
        got = await client.receive(len(LINES[0]))
        if got != LINES[0].upper():
            proxy.explain(f"The client sent {LINES[0]!r}", LINES[0].upper(), got, sent=LINES[0])
        close_with_a_reset(client.writer)
        setting = (
            f"The client sent {LINES[0]!r}, got its answer, then reset its connection (an RST: "
            "it quit with unread data, or its network dropped)"
        )
        peer = proxy.peer(1)
        if peer is not None and not await proxy.upstream.changes.until(
            lambda: peer.closed, PATIENCE
        ):
            fail(
                f"{setting}. {scaled(PATIENCE):.2f} s later the proxy's connection to the "
                f"upstream was still open, for a client that is gone.\n{proxy.status(1)}\n"
                "Expected: the reset ends the relay: both connections closed, the upstream sees "
                "the end.\n"
                "Try: let the error out of pipe() and run both pipes in an asyncio.TaskGroup: "
                "when one fails, it cancels the other; then close both connections.\n\n"
                + timeline.draw()
            )
        await proxy.expect_a_quiet_end(1, setting)


# The upstreams: what the proxy connects to. Each serves one connection; `peer` notes what it
# saw. They run in a thread of their own (see Upstream).


async def answers_each_line(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
) -> None:
    """Answers each line in capitals; to the line b"flood\\n", FLOOD (16 MiB)."""
    while line := await reader.readline():
        peer.got(line, reader)
        await peer.send(writer, FLOOD if line == b"flood\n" else line.upper())
    peer.got(b"", reader)


async def asks_a_name(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
) -> None:
    await peer.send(writer, PROMPT)
    name = await reader.readline()
    peer.got(name, reader)
    await peer.send(writer, b"hello, " + name)
    peer.got(await reader.read(), reader)


async def answers_once_the_request_is_complete(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
) -> None:
    request = await reader.read()  # everything, up to the EOF
    peer.got(request, reader)
    await peer.send(writer, request[::-1])


async def says_bye_and_closes(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
) -> None:
    await peer.send(writer, b"bye\n")


async def resets_after_a_line(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
) -> None:
    peer.got(await reader.readline(), reader)
    close_with_a_reset(writer)


def close_with_a_reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, not a FIN: as a program that crashed, or a network that dropped."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # linger 0: the close sends an RST


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def abridged(data: bytes) -> str:
    """Bytes as a message shows them: in full if short, else their start and their size."""
    return repr(data) if len(data) <= 40 else f"{data[:12]!r}... ({len(data):,} bytes)"


def waits_for_more(names: list[str]) -> str:
    """What a pipe that waits in these coroutines waits for, if it is more than what came."""
    if any(name.endswith(".readuntil") for name in names):
        return "in readline() (or `async for line in reader`), for a newline"
    if sum(name.endswith("StreamReader.read") for name in names) > 1:  # read() calls read(limit)
        return "in read() with no size, which returns only at EOF"
    if any(name.endswith(".readexactly") for name in names):
        return "in readexactly(n), until n bytes have come"
    return ""


class Changes:
    """Something a test waits for: tell() after each change; `await until(check, within)`."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def tell(self) -> None:
        self._event.set()

    def tell_from_a_thread(self) -> None:
        self._loop.call_soon_threadsafe(self._event.set)

    async def until(self, check: Callable[[], bool], within: float) -> bool:
        """Whether check() came true within `within` seconds (scaled)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(scaled(within)):
                while True:
                    self._event.clear()
                    if check():
                        return True
                    await self._event.wait()
        return check()


@dataclass
class Peer:
    """One connection as the upstream saw it: written by the upstream's thread, read by the test."""

    changes: Changes
    received: bytearray = field(default_factory=bytearray)
    sent: int = 0
    eof: bool = False  # the proxy's EOF came
    closed: bool = False  # the upstream is done with the connection and closed it

    def got(self, data: bytes, reader: asyncio.StreamReader) -> None:
        self.received += data
        self.eof = reader.at_eof()
        self.changes.tell_from_a_thread()

    async def send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        for start in range(0, len(data), 64 * 1024):
            writer.write(data[start : start + 64 * 1024])
            await writer.drain()
            self.sent += min(64 * 1024, len(data) - start)
            self.changes.tell_from_a_thread()


Scenario = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Peer], Awaitable[None]]


class Upstream:
    """A real TCP server on 127.0.0.1, in a thread and event loop of its own: another program,
    as far as the proxy can tell, and none of its tasks are the test's. `scenario` serves each
    connection; `peers` are the connections, in the order they came."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.peers: list[Peer] = []
        self.port = 0
        self.changes = Changes()
        home = asyncio.get_running_loop()
        self._started: asyncio.Future[int] = home.create_future()
        self._ended: asyncio.Future[None] = home.create_future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="upstream", daemon=True)

    async def start(self) -> None:
        self._thread.start()
        self.port = await asyncio.wait_for(self._started, scaled(5.0))

    async def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.wait_for(self._ended, scaled(5.0))
        self._thread.join()

    def _run(self) -> None:
        home = self._started.get_loop()
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start() in the test's loop
            if not self._started.done():
                home.call_soon_threadsafe(self._started.set_exception, error)
        finally:
            home.call_soon_threadsafe(self._ended.set_result, None)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        handlers: set[asyncio.Task[Any]] = set()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            peer = Peer(self.changes)
            self.peers.append(peer)
            try:
                await self.scenario(reader, writer, peer)
            except (Exception, asyncio.CancelledError):
                pass  # the proxy went away (a reset, an EOF in mid-line), or the test is over
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                peer.closed = True
                self.changes.tell_from_a_thread()

        listener = socket.socket()
        try:  # a small send buffer for every connection (see FLOOD)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            listener.bind((HOST, 0))
            server = await asyncio.start_server(serve, sock=listener)
        except BaseException:
            listener.close()
            raise
        home = self._started.get_loop()
        home.call_soon_threadsafe(self._started.set_result, server.sockets[0].getsockname()[1])
        try:
            await self._stop.wait()
        finally:
            server.close()
            # A connection accepted a moment ago: let its handler start, so that it closes it.
            for _ in range(100):
                if asyncio.all_tasks() - {asyncio.current_task()} <= handlers:
                    break
                await asyncio.sleep(0)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()


@asynccontextmanager
async def upstream_running(scenario: Scenario) -> AsyncIterator[Upstream]:
    upstream = Upstream(scenario)
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.stop()


class Client:
    """A client's end of one connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.partial = b""  # what came before a wait for more ran out of patience

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self, size: int) -> bytes | None:
        """`size` bytes; what came before the end of the connection; None if they do not come
        within PATIENCE s."""
        try:
            return await patiently(self.reader.readexactly(size), PATIENCE)
        except asyncio.IncompleteReadError as end:
            return end.partial
        except ConnectionError:
            return b""

    async def receive_to_end(self) -> bytes | None:
        """Everything up to the end of the connection (its EOF, or a reset), or None if the end
        does not come within PATIENCE s (then `partial` holds what came)."""
        got = bytearray()

        async def to_the_end() -> bool:
            with contextlib.suppress(ConnectionError):
                while chunk := await self.reader.read(64 * 1024):
                    got.extend(chunk)
            return True

        ended = await patiently(to_the_end(), PATIENCE)
        self.partial = bytes(got)
        return self.partial if ended else None

    async def receive_and_compare(self, expected: bytes) -> tuple[int, bool]:
        """Read for as long as bytes come within PATIENCE s of the last, up to len(expected):
        how many came, and whether they were expected's, in order. Chunk by chunk: copying and
        comparing 16 MiB at the end would hold the loop for one long step (0.2 s under load)."""
        received, same = 0, True
        while received < len(expected):
            chunk: bytes | None = b""
            with contextlib.suppress(ConnectionError):
                chunk = await patiently(self.reader.read(256 * 1024), PATIENCE)
            if not chunk:
                break
            same = same and expected.startswith(chunk, received)
            received += len(chunk)
        return received, same

    async def hang_up(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@asynccontextmanager
async def accepted() -> AsyncIterator[
    tuple[Client, tuple[asyncio.StreamReader, asyncio.StreamWriter]]
]:
    """A client connected to a listener of the test's own: the client, and the accepted end
    of its connection, which the test hands to relay() itself."""
    loop = asyncio.get_running_loop()
    ends: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = loop.create_future()
    listener = await asyncio.start_server(lambda *end: ends.set_result(end), HOST, 0)
    try:
        client = Client(*await asyncio.open_connection(*listener.sockets[0].getsockname()[:2]))
        try:
            server_end = await ends
            try:
                yield client, server_end
            finally:
                server_end[1].close()
        finally:
            await client.hang_up()
    finally:
        listener.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener.wait_closed(), scaled(1.0))


@dataclass
class Relay:
    """One relay() call: a client's connection through the proxy."""

    timeline: Timeline
    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    error: Exception | None = None  # what it raised (it reaches nobody)

    @property
    def label(self) -> str:
        return f"relay #{self.number}"

    @property
    def span(self) -> Span | None:
        return self.timeline.find(self.label)


@dataclass
class Pipe:
    """One pipe() call: one direction of a relay."""

    timeline: Timeline
    relay: int  # the number of its relay, 0 if the test could not tell
    direction: str  # TO_UPSTREAM or TO_CLIENT
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    error: Exception | None = None
    closed_writer: bool = False  # it returned with its writer closed (not only its EOF sent)

    @property
    def label(self) -> str:
        return f"pipe #{self.relay or '?'} {self.direction}"

    @property
    def span(self) -> Span | None:
        return self.timeline.find(self.label)

    def state(self) -> str:
        assert self.span is not None
        if self.span.end is None:
            _, line = waiting_at(self.span.task, tcp_proxy)
            return "was still running" + (f", at {line}" if line else "")
        if self.span.cancelled:
            return "ended cancelled"
        return f"raised {self.error!r}" if self.error is not None else "returned"


class Proxy:
    """The learner's proxy as the tests watch it: every relay() and pipe() call, in order."""

    def __init__(self, timeline: Timeline, upstream: Upstream) -> None:
        self.timeline, self.upstream = timeline, upstream
        self.relays: list[Relay] = []
        self.pipes: list[Pipe] = []
        self.clients: list[Client] = []
        self.changes = Changes()
        self.port = 0
        self.stopping = False  # the test stops what a wrong answer left running

    def watch(self, monkeypatch: pytest.MonkeyPatch, relays: bool = True) -> None:
        """Record every call of pipe() (and relay()) the learner's code makes, on the timeline."""
        original_pipe, original_relay = tcp_proxy.pipe, tcp_proxy.relay

        @functools.wraps(original_pipe)  # a report names pipe(), not this spy
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            call = next(
                p for p in reversed(self.pipes) if p.reader is reader and p.writer is writer
            )
            try:
                await original_pipe(reader, writer)
            except Exception as error:
                call.error = error
                raise
            call.closed_writer = writer.is_closing()

        @functools.wraps(original_relay)
        async def relay(
            client_reader: asyncio.StreamReader,
            client_writer: asyncio.StreamWriter,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            call = next(r for r in reversed(self.relays) if r.reader is client_reader)
            try:
                await original_relay(client_reader, client_writer, *args, **kwargs)
            except Exception as error:  # the test reports it: asyncio could only log it
                call.error = error
            except asyncio.CancelledError:
                if not self.stopping:
                    raise
                # Cancelled by the test, after a failure: for asyncio to log it (3.11 and 3.12
                # do) would only repeat that failure.
            finally:
                self.changes.tell()

        # Under the timeline's spies, which draw each call and name it in a blocked loop's report.
        monkeypatch.setattr(tcp_proxy, "pipe", pipe)
        self.timeline.spy(
            tcp_proxy, "pipe", label=lambda reader, writer: self.begin(reader, writer)
        )
        if relays:
            monkeypatch.setattr(tcp_proxy, "relay", relay)
            signature = inspect.signature(original_relay)

            def label(*args: Any, **kwargs: Any) -> str:
                reader, writer, *_ = signature.bind(*args, **kwargs).arguments.values()
                return self.adopt(reader, writer).label

            self.timeline.spy(tcp_proxy, "relay", label=label)

    def begin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """A new pipe() call: its label."""
        call = Pipe(self.timeline, *self.place(reader, writer), reader, writer)
        self.pipes.append(call)
        self.changes.tell()
        return call.label

    def adopt(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Relay:
        """The client's connection of a new relay."""
        call = Relay(self.timeline, len(self.relays) + 1, reader, writer)
        self.relays.append(call)
        self.changes.tell()
        return call

    def place(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, str]:
        """Which relay a pipe() call belongs to, and its direction."""
        for call in self.relays:
            if writer is call.writer:
                return call.number, TO_CLIENT
            if reader is call.reader:
                return call.number, TO_UPSTREAM
        peer = writer.get_extra_info("peername")
        return 0, TO_UPSTREAM if peer and peer[1] == self.upstream.port else TO_CLIENT

    async def connect(self, receive_buffer: int = 0) -> Client:
        """A new client of the proxy (with a small receive buffer, if asked)."""
        sock = socket.socket()
        try:
            sock.setblocking(False)
            if receive_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            await asyncio.get_running_loop().sock_connect(sock, (HOST, self.port))
            client = Client(*await asyncio.open_connection(sock=sock))
        except BaseException:
            sock.close()
            raise
        self.clients.append(client)
        return client

    async def expect_every_relay_closed(self) -> None:
        """Every client has hung up: every relay() has ended, both its connections closed."""
        __tracebackhide__ = True
        running = {r.span.task for r in self.relays if r.span and r.span.end is None}
        if running:
            await asyncio.wait({t for t in running if t is not None}, timeout=scaled(PATIENCE))
        for call in self.relays:
            assert call.span is not None
            if call.span.end is None:
                outgoing, peer = self.pipes_of(call.number).get(TO_UPSTREAM), self.peer(call.number)
                unseen = (
                    outgoing is not None
                    and outgoing.state() == "returned"
                    and peer is not None
                    and not peer.eof
                    and not peer.closed
                )
                fail(
                    f"The client of relay #{call.number} hung up (closed its connection), and "
                    f"{scaled(PATIENCE):.2f} s later relay #{call.number} was still running.\n"
                    f"{self.status(call.number)}\n"
                    + (
                        f"{outgoing.label} returned at the client's EOF, but the upstream never "
                        "saw the client's EOF: it waits for more, so it never ends its side, and "
                        "the way back stays open too.\n"
                        "Try: at EOF, `writer.write_eof()`: the receiver sees the end of what "
                        "the sender had to say.\n"
                        if unseen and outgoing is not None
                        else ""
                    )
                    + "Expected: the client's EOF goes on to the upstream, the upstream's comes "
                    "back, and relay() ends, both connections closed.\n\n" + self.timeline.draw()
                )
            if call.error is not None:
                fail(f"relay #{call.number} raised {call.error!r}.\n\n{self.timeline.draw()}")
            outgoing = self.pipes_of(call.number).get(TO_UPSTREAM)
            if not call.writer.is_closing():
                fail(
                    f"relay #{call.number} returned, and its client's connection was still "
                    "open: its socket stays open until the garbage collector finds it.\n"
                    "Try: close both writers in a `finally:` (`writer.close()`, then "
                    "`await writer.wait_closed()`), so that it happens on an error too."
                )
            if outgoing is not None and not outgoing.writer.is_closing():
                fail(
                    f"relay #{call.number} returned, and its connection to the upstream was "
                    "still open: relay() opened it, so relay() must close it; its socket stays "
                    "open until the garbage collector finds it (a busy proxy runs out of files "
                    "first).\n"
                    "Try: close both writers in a `finally:` (`writer.close()`, then "
                    "`await writer.wait_closed()`), so that it happens on an error too."
                )

    def pipes_of(self, number: int) -> dict[str, Pipe]:
        return {p.direction: p for p in self.pipes if p.relay == number}

    def peer(self, number: int) -> Peer | None:
        return self.upstream.peers[number - 1] if len(self.upstream.peers) >= number else None

    async def both_pipes(self, number: int) -> tuple[Pipe, Pipe]:
        """The two pipe() calls of relay #number, once both have begun."""
        if not await self.changes.until(lambda: len(self.pipes_of(number)) == 2, PATIENCE):
            fail(
                f"A client connected, and {scaled(PATIENCE):.2f} s later relay #{number} was "
                "not copying both ways: pipe() had not been called for each direction.\n"
                f"{self.status(number)}\n"
                "Expected: relay() calls pipe() twice, at once: client → upstream and back.\n\n"
                + self.timeline.draw()
            )
        pipes = self.pipes_of(number)
        return pipes[TO_UPSTREAM], pipes[TO_CLIENT]

    async def expect_a_quiet_end(self, number: int, setting: str) -> None:
        """Relay #number ends (a connection of it was reset), and raises nothing."""
        __tracebackhide__ = True
        await self.changes.until(
            lambda: (self.span_of(number) or UNENDED).end is not None, PATIENCE
        )
        call = self.relays[number - 1] if len(self.relays) >= number else None
        if call is not None and call.error is not None:
            fail(
                f"{setting}. relay #{number} then raised {call.error!r}. An error that leaves "
                "relay() reaches nobody who can catch it: asyncio can only log it, a traceback "
                "for every connection that drops.\n"
                "Expected: relay() closes both connections and ends quietly: there is nobody "
                "left to tell.\n"
                "Try: catch ConnectionError around the task group (`except* ConnectionError:` "
                "for the ExceptionGroup it raises), and around `await writer.wait_closed()` too."
            )

    def raised(self, number: int) -> bool:
        """relay #number raised an error."""
        return len(self.relays) >= number and self.relays[number - 1].error is not None

    def span_of(self, number: int) -> Span | None:
        return self.relays[number - 1].span if len(self.relays) >= number else None

    def status(self, number: int) -> str:
        """What relay #number and its pipes were doing, a line each."""
        if len(self.relays) < number:
            return "relay() was never called: start_proxy() must serve every client with relay()."
        call = self.relays[number - 1]
        lines = []
        if call.span is not None:
            running = call.span.end is None
            lines.append(
                f"relay #{number} "
                + (
                    "was still running"
                    if running
                    else f"raised {call.error!r}"
                    if call.error
                    else "returned"
                )
            )
        lines += [f"{p.label} {p.state()}" for p in self.pipes if p.relay == number]
        return "\n".join(f"  {line}" for line in lines)

    def explain(
        self, setting: str, expected: bytes, got: bytes | None, relay: int = 1, sent: bytes = b""
    ) -> NoReturn:
        """Fail: a client did not get `expected`. Say why, as far as the run shows it."""
        __tracebackhide__ = True
        peer = self.peer(relay)
        if sent and (peer is None or sent not in peer.received):
            reason = self.why_not_carried(relay, TO_UPSTREAM, sent)  # it never reached the upstream
        else:
            reason = self.why_not_carried(relay, TO_CLIENT, expected)
        if got is None:
            came = f"nothing within {scaled(PATIENCE):.2f} s"
        else:
            came = abridged(got) + (
                ", then the end of the connection" if len(got) < len(expected) else ""
            )
        fail(
            f"{setting}, and got {came}; expected {abridged(expected)}.\n{reason}\n\n"
            + self.timeline.draw()
        )

    def why_not_carried(self, number: int, direction: str, what: bytes) -> str:
        if len(self.relays) < number:
            return "relay() was never called: start_proxy() must serve every client with relay()."
        call = self.relays[number - 1]
        if call.error is not None:
            return f"relay #{number} raised {call.error!r}."
        pipes = self.pipes_of(number)
        carrier = pipes.get(direction)
        if carrier is None or carrier.span is None:
            other = pipes.get(TO_CLIENT if direction == TO_UPSTREAM else TO_UPSTREAM)
            if other is not None and other.span is not None and other.span.end is None:
                return (
                    f"Only {other.label} was running: pipe() had not been called for the way "
                    f"{direction}, so nothing carries those bytes. relay() copies one direction "
                    "then the other: the second would start once the first reached its EOF, and "
                    "in a conversation that never comes, since each side waits for the other.\n"
                    "Try: run both pipe() calls at once, as two tasks of an asyncio.TaskGroup, "
                    "and wait for both."
                )
            return (
                f"pipe() was never called for the way {direction}: relay() copies each way "
                "with pipe()."
            )
        if carrier.span.end is not None:
            return f"{carrier.label} {carrier.state()} before those bytes came."
        names, line = waiting_at(carrier.span.task, tcp_proxy)
        at = f" at {line}" if line else ""
        if any(name.endswith(".acquire") for name in names):
            holders = [
                p.label
                for p in self.pipes
                if p is not carrier
                and p.span is not None
                and p.span.end is None
                and any(n.endswith("drain") for n in waiting_at(p.span.task, tcp_proxy)[0])
            ]
            if holders:
                return (
                    f"{carrier.label} was waiting{at} for a lock, which {holders[0]} holds while "
                    "it waits in drain() for a client that reads nothing: one slow client stops "
                    "every other one, a lock held across an await that does not need it.\n"
                    "Try: nothing is shared between two connections here: no lock at all; each "
                    "pipe() writes to its own writer."
                )
        held = waits_for_more(names)
        if held:
            return (
                f"{abridged(what)} reached the proxy, but {carrier.label} has not passed it on: it "
                f"waits {held}" + (f": {line}" if line else "") + ".\n"
                "Expected: pipe() forwards whatever has arrived, at once.\n"
                "Try: `await reader.read(CHUNK)`: it returns as soon as anything has arrived "
                "(CHUNK bytes at most), and b'' at EOF."
            )
        return f"{carrier.label} was waiting{at}."

    def explain_the_eof(self, got: bytes | None) -> NoReturn:
        """Fail: a client that sent REQUEST and its EOF did not get its answer, then the end."""
        __tracebackhide__ = True
        setting = (
            f"The client sent a request of {len(REQUEST):,} bytes, then its EOF (write_eof(): "
            "it is done sending, and waits for the answer); the upstream answers once it sees "
            "that EOF"
        )
        peer = self.peer(1)
        pipes = self.pipes_of(1)
        outgoing, incoming = pipes.get(TO_UPSTREAM), pipes.get(TO_CLIENT)
        if got is None and peer is not None and not peer.eof and len(peer.received) == len(REQUEST):
            returned = outgoing is not None and outgoing.span is not None and outgoing.span.end
            fail(
                f"{setting}. The upstream got the {len(REQUEST):,} bytes, but it never saw the "
                f"client's EOF, and still waits for the rest of the request"
                + (
                    f": {outgoing.label} returned at that EOF without passing it on"
                    if returned and outgoing
                    else ""
                )
                + f"; the client got nothing within {scaled(PATIENCE):.2f} s.\n"
                "Expected: the EOF goes on to the upstream, and the answer comes back.\n"
                "Try: at EOF, `writer.write_eof()`: it shuts down the writer's sending side "
                "only, so the upstream sees the end of the request and can still answer.\n\n"
                + self.timeline.draw()
            )
        if got is not None and len(got) < len(REQUEST):
            if incoming is not None and incoming.span is not None and incoming.span.cancelled:
                fail(
                    f"{setting}; the client got {len(got):,} bytes, then the end of the "
                    f"connection: {incoming.label} was cancelled as soon as "
                    f"{outgoing.label if outgoing else TO_UPSTREAM} had ended, before the answer "
                    "came. One direction at its end is not the end of the connection: the other "
                    "may still carry an answer.\n"
                    "Expected: the answer, then the end.\n"
                    "Try: let each direction end with its own EOF: wait for both pipes (a "
                    "TaskGroup waits for all its tasks), not for the first one.\n\n"
                    + self.timeline.draw()
                )
            if outgoing is not None and outgoing.closed_writer:
                fail(
                    f"{setting}; the client got {len(got):,} bytes, then the end of the "
                    f"connection: {outgoing.label} closed its writer when the client's EOF came. "
                    "That closes the whole connection to the upstream, its way back to the "
                    "client too: the answer had no way back.\n"
                    "Expected: the answer, then the end.\n"
                    "Try: `writer.write_eof()` shuts down only the sending side: the upstream "
                    "sees the end of the request, and can still answer.\n\n" + self.timeline.draw()
                )
        self.explain(setting, REQUEST[::-1], got)


@asynccontextmanager
async def proxy_to(
    scenario: Scenario, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Proxy]:
    """The learner's proxy, started with start_proxy() in front of an upstream serving
    `scenario`. When the test is done (its clients hung up), every relay() must have ended,
    both its connections closed."""
    async with upstream_running(scenario) as upstream:
        proxy = Proxy(timeline, upstream)
        proxy.watch(monkeypatch)
        server = await tcp_proxy.start_proxy(HOST, upstream.port)
        try:
            proxy.port = server.sockets[0].getsockname()[1]
            yield proxy
            await proxy.expect_every_relay_closed()
        finally:
            for client in proxy.clients:
                await client.hang_up()
            # What a wrong answer left running or open: stopped here, so the guard does not
            # report it once more.
            proxy.stopping = True
            running = [r.span.task for r in proxy.relays if r.span and r.span.end is None]
            for task in running:
                if task is not None:
                    task.cancel()
            if running:
                await asyncio.wait({t for t in running if t is not None}, timeout=scaled(1.0))
            for pipe in proxy.pipes:
                pipe.writer.close()
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), scaled(1.0))


@dataclass
class Flood:
    client: Client
    peer: Peer
    pipe: Pipe  # the one that carries the flood to the client

    def buffered(self) -> int:
        """What the proxy holds in its write buffer for the client, in bytes."""
        return self.pipe.writer.transport.get_write_buffer_size()


@asynccontextmanager
async def flooded(proxy: Proxy) -> AsyncIterator[Flood]:
    """A client asks the upstream for FLOOD through the proxy, and reads none of it: yields once
    the upstream's sending has stalled (nothing moved for STILL s), or once it has sent it all.
    Then the client reads it all, checks it, and hangs up."""
    number = len(proxy.relays) + 1
    client = await proxy.connect(receive_buffer=SMALL_BUFFER)
    outgoing, incoming = await proxy.both_pipes(number)
    # Small buffers at the proxy too: the kernel's would otherwise hold megabytes.
    incoming.writer.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER
    )
    outgoing.writer.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER
    )
    await client.send(b"flood\n")
    changes = proxy.upstream.changes
    if not await changes.until(lambda: (proxy.peer(number) or Peer(changes)).sent > 0, PATIENCE):
        setting = f"A client asked the upstream for {mib(len(FLOOD))} (b'flood\\n') and waited"
        proxy.explain(setting, FLOOD[:4], None, relay=number, sent=b"flood\n")
    peer = proxy.peer(number)
    assert peer is not None
    flood = Flood(client, peer, incoming)
    seen = (-1, -1)  # until nothing moves, or the upstream is not held back at all
    while seen != (peer.sent, flood.buffered()) and peer.sent <= HELD_AT_MOST:
        seen = (peer.sent, flood.buffered())
        await changes.until(lambda: peer.sent > HELD_AT_MOST, STILL)
    yield flood
    received, same = await client.receive_and_compare(FLOOD)
    if received != len(FLOOD) or not same:
        fail(
            f"A client asked the upstream for {mib(len(FLOOD))} and read none of it for a "
            f"while; then it read: it got {mib(received)}"
            + ("" if same else ", not the bytes the upstream sent in their order")
            + ".\nExpected: every byte, in order, once the client reads.\n\n"
            + proxy.timeline.draw()
        )
    await client.hang_up()
