from __future__ import annotations

import asyncio
import contextlib
import functools
import linecache
import socket
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import chat_room
import pytest
from harness import fail, scaled, waiting_at
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

# Buffers this small (bytes) hold less than one BIG message: a member that stops reading gets
# them on both ends of its connection, and fills them within a few messages, not megabytes.
SMALL_BUFFER = 4096
BIG = 16 * 1024  # a chat message with an attachment, bigger than all those buffers
OUTBOX = 4  # the rooms' outbox_size in these tests
MESSAGES = 20  # far more than carol's buffers and outbox can hold (about 8)
WAIT = 0.5  # seconds (scaled): what a correct room needs is a few milliseconds


async def test_a_member_who_stops_reading_does_not_hold_up_the_others() -> None:
    async with chat_server(chat_room.ChatRoom(outbox_size=OUTBOX)) as chat:
        carol = await chat.join("carol", reads=False)
        alice, bob = await chat.join("alice"), await chat.join("bob")
        sent = [big_message("alice", n) for n in range(MESSAGES)]
        if not await chat.talk(alice, sent, bob):
            chat.fail(held_up(chat, [alice, bob], carol))


async def test_a_member_whose_outbox_overflows_is_dropped_and_disconnected() -> None:
    room = chat_room.ChatRoom(outbox_size=OUTBOX)
    async with chat_server(room) as chat:
        carol = await chat.join("carol", reads=False)
        alice, bob = await chat.join("alice"), await chat.join("bob")
        outbox = chat.outbox_of(carol)  # kept, to look into it once she is out of the room
        dropped_at = 0  # how many of alice's messages had gone out when carol was dropped

        def note_the_drop(sent: int) -> None:
            nonlocal dropped_at
            if not dropped_at and chat.outbox_of(carol) is None:
                dropped_at = sent

        sent = [big_message("alice", n) for n in range(MESSAGES)]
        if not await chat.talk(alice, sent, bob, after_each=note_the_drop):
            chat.fail(held_up(chat, [alice, bob], carol))
        if not dropped_at:
            chat.fail(never_dropped(outbox))
        carol.start_reading()
        if not await chat.until(lambda: carol.disconnected):
            chat.fail(
                f"carol was dropped from room.members, then read again: she received "
                f"{len(carol.received)} message(s), and her connection was still open "
                f"{chat.waited:.2f} s later; expected the room to close it with code 1008 "
                "(policy violation), reason 'too slow', so her app knows to reconnect.\n"
                "Likely mistake: removing the member from self.members without closing its "
                "connection: it stays connected and silently misses every message.\n"
                "Try: once the member is out of the room, its sender task calls "
                "`await websocket.close(CloseCode.POLICY_VIOLATION, 'too slow')`."
            )
        # Message number `dropped_at` found her outbox full: the OUTBOX messages before it were
        # still in it; her sender had taken every earlier one (the last one still being sent).
        taken = dropped_at - 1 - OUTBOX
        expected = sent[:taken]
        dropped = f"carol was dropped when alice's message {short(sent[dropped_at - 1])!r} found "
        if carol.received[:taken] != expected or len(carol.received) < taken:
            chat.fail(
                f"{dropped}her outbox full; she then read again and received "
                f"{[short(m) for m in carol.received]}; expected the {taken} messages her sender "
                f"had taken from her outbox before that, in order, with no gap: "
                f"{[short(m) for m in expected]}."
            )
        if len(carol.received) > taken:
            waiting = [short(m) for m in sent[taken : dropped_at - 1]]
            chat.fail(
                f"{dropped}her outbox full, with {waiting} "
                f"still in her outbox; she then read again and received those too: "
                f"{[short(m) for m in carol.received[taken:]]}, before the close.\n"
                "Expected: what is still in her outbox is dropped with her: after the message "
                "her sender is sending, the next thing she gets is the close. A member too slow "
                "for the room gets no backlog of stale messages, and her close comes at once.\n"
                "Likely mistake: the sender empties the outbox before it closes "
                "(`while websocket in self.members or not outbox.empty():`).\n"
                "Try: the sender checks that the member is still in the room before each message "
                "it takes from the outbox, and closes as soon as she is not."
            )
        code, reason = carol.connection.close_code, carol.connection.close_reason
        if code != 1008:
            chat.fail(
                f"the room closed carol's connection with code {code} ({reason!r}); expected "
                "1008, CloseCode.POLICY_VIOLATION, reason 'too slow'.\n"
                "Try: `await websocket.close(CloseCode.POLICY_VIOLATION, 'too slow')` (1006 "
                "means the connection was cut without a close frame at all)."
            )


def never_dropped(outbox: asyncio.Queue[Any] | None) -> str:
    held = f"; her outbox held {outbox.qsize()} messages" if outbox is not None else ""
    seen = (
        f"alice sent {MESSAGES} messages and carol read none of them, with "
        f"ChatRoom(outbox_size={OUTBOX}), yet carol was never dropped: room.members still "
        f"counts her{held}.\n"
    )
    if outbox is not None and outbox.maxsize <= 0:
        return seen + (
            "Her outbox is unbounded, asyncio.Queue() without maxsize: it grows by every "
            "message, for as long as she does not read (a server runs out of memory this way, "
            "one stalled phone at a time), and is never full.\n"
            "Try: asyncio.Queue(maxsize=self.outbox_size) and outbox.put_nowait(message); when "
            "it raises asyncio.QueueFull, the member is too slow: delete it from self.members "
            "and have its connection closed."
        )
    return seen + (
        "Expected: when outbox.put_nowait(message) raises asyncio.QueueFull, the member is too "
        "slow: delete it from self.members at once and have its connection closed."
    )


async def test_a_member_cut_off_in_the_middle_of_a_send_leaves_quietly() -> None:
    room = chat_room.ChatRoom(outbox_size=MESSAGES)  # carol's outbox never fills here
    async with chat_server(room) as chat:
        carol = await chat.join("carol", reads=False)
        alice, bob = await chat.join("alice"), await chat.join("bob")
        said = [big_message("alice", n) for n in range(MESSAGES // 2)]
        if not await chat.talk(alice, said, bob):
            chat.fail(held_up(chat, [alice, bob], carol))
        outbox = chat.outbox_of(carol)
        if outbox is None or outbox.empty():
            chat.fail(
                f"alice sent {len(said)} messages of {BIG // 1024} KiB while carol read none, "
                f"with ChatRoom(outbox_size={MESSAGES}); expected carol still in the room with "
                "messages waiting in her outbox (her sender stuck in send(), her buffers full); "
                + ("she was dropped." if outbox is None else "her outbox was empty.")
            )
        carol.connection.transport.abort()  # the network drops her: no close frame, 1006
        cut = "carol's connection was cut (no close frame) while her sender waited in send()"
        gone = await chat.until(
            lambda: carol.port not in chat.serving and not chat.outbox_of(carol)
        )
        if chat.errors:
            chat.fail(f"{cut}; her handler raised that error instead of returning.")
        if not gone:
            returned, kept = carol.port not in chat.serving, chat.outbox_of(carol) is not None
            chat.fail(
                f"{cut}; {chat.waited:.2f} s later her handler "
                + ("had returned" if returned else "was still running")
                + (", and she was still in room.members" if kept else "")
                + ": a member whose connection is cut must leave the room like one who leaves."
                + (
                    "\nLikely mistake: no cleanup when the member's connection ends: the room "
                    "keeps filling the outbox of a connection that is gone.\n"
                    "Try: wrap the member's `async for message in websocket:` loop in "
                    "try/finally and, in the finally, delete it from self.members and stop its "
                    "sender task."
                    if returned and kept
                    else ""
                )
            )
        said = [f"alice {n:02d}" for n in range(3)]
        if not await chat.talk(alice, said, bob):
            chat.fail(f"after carol was cut off, alice sent {len(said)} messages: {bob.got()}.")


async def test_every_member_receives_every_message_in_one_order() -> None:
    # All three talk at once, in bursts: outboxes with room for all 30 messages.
    async with chat_server(chat_room.ChatRoom(outbox_size=30)) as chat:
        members = [await chat.join(name) for name in ("alice", "bob", "carol")]
        said = {m.name: [f"{m.name} {n:02d}" for n in range(10)] for m in members}
        for member in members:  # all three talk at once
            member.say(said[member.name])
        total = sum(len(lines) for lines in said.values())
        await chat.until(lambda: all(len(m.received) >= total for m in members))
        waited = chat.waited
        for member in members:
            own = [m for m in member.received if m.startswith(member.name)]
            if len(member.received) != total:
                chat.fail(
                    f"alice, bob and carol sent 10 messages each, all at once; {member.got()} "
                    f"({len(own)} of them {member.name}'s own) after {waited:.2f} s; expected all "
                    f"{total}.\n"
                    + (
                        "Every member, the sender too, receives every message: a sender's own "
                        "messages come back in the room's order, which tells her app where they "
                        "stand in the conversation.\n"
                        "Likely mistake: the broadcast skips the sender (`if ws is not sender`)."
                        if not own
                        else "Try: put every message a member sends into every outbox."
                    )
                )
            for name, lines in said.items():
                theirs = [m for m in member.received if m.startswith(name)]
                if theirs != lines:
                    chat.fail(
                        f"{member.name} received {name}'s messages as {theirs}; expected them in "
                        f"the order {name} sent them: {lines}."
                    )
        orders = {m.name: m.received for m in members}
        if len({tuple(order) for order in orders.values()}) > 1:
            shown = "\n".join(f"  {name}: {order}" for name, order in orders.items())
            chat.fail(
                "The members received the messages in different orders:\n"
                f"{shown}\n"
                "Expected one order for all: each message goes into every outbox at once, "
                "before the next one."
            )


async def test_a_member_who_leaves_is_removed_from_the_room() -> None:
    room = chat_room.ChatRoom()
    async with chat_server(room) as chat:
        alice, bob = await chat.join("alice"), await chat.join("bob")
        carol = await chat.join("carol")
        await carol.connection.close()
        if not await chat.until(lambda: len(room.members) == 2):
            if carol.port in chat.serving:
                names, line = waiting_at(chat.handlers.get(carol.port), chat_room)
                chat.fail(
                    f"carol closed her connection, yet {chat.waited:.2f} s later her handler is "
                    f"still running{f', waiting at {line}' if line else ''}: its cleanup never "
                    f"ran, and the room has {len(room.members)} members, expected 2.\n"
                    + (
                        "Likely mistake: the handler's TaskGroup waits for her sender task, "
                        "which waits on her empty outbox forever: nobody stops it.\n"
                        "Try: when her `async for message in websocket:` loop ends, cancel the "
                        "sender (`sender.cancel()`), still inside the TaskGroup."
                        if "TaskGroup.__aexit__" in names
                        else "Try: return from the handler once her `async for` loop ends."
                    )
                )
            chat.fail(
                f"carol closed her connection and her handler returned, yet room.members still "
                f"counts her ({len(room.members)} members, expected 2): the room keeps filling "
                "the outbox of a connection that is gone.\n"
                "Likely mistake: no cleanup when the member's connection ends.\n"
                "Try: wrap the member's `async for message in websocket:` loop in try/finally "
                "and, in the finally, delete it from self.members and stop its sender task."
            )
        said = [f"alice {n:02d}" for n in range(3)]
        await chat.talk(alice, said, bob)
        await chat.until(lambda: len(alice.received) >= len(said))
        for member in (alice, bob):
            if member.received != said:
                chat.fail(
                    f"after carol left, alice sent {len(said)} messages; {member.got()}: "
                    f"{member.received}; expected {said}."
                )


def big_message(sender: str, number: int) -> str:
    return f"{sender} {number:02d} ".ljust(BIG, ".")


def short(message: str) -> str:
    """'alice 07' for a message of alice's, however long it is."""
    return " ".join(message.split()[:2])


class Member:
    """A real websockets client in the room; once it reads, it keeps every message it gets."""

    def __init__(self, name: str, connection: ClientConnection, news: asyncio.Event) -> None:
        self.name = name
        self.connection = connection
        self.news = news  # set at every message received
        self.received: list[str] = []
        self.port: int = connection.local_address[1]  # the server sees her by this port
        self.reader: asyncio.Task[None] | None = None
        self.speaker: asyncio.Task[None] | None = None

    def start_reading(self) -> None:
        if self.reader is None:
            self.reader = asyncio.create_task(self._read(), name=f"{self.name} reads")

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.connection:
                self.received.append(str(message))
                self.news.set()

    def say(self, messages: list[str]) -> None:
        """Send the messages one after another, in a task of their own."""

        async def speak() -> None:
            for message in messages:
                await self.connection.send(message)

        self.speaker = asyncio.create_task(speak(), name=f"{self.name} speaks")

    @property
    def disconnected(self) -> bool:
        return self.reader is not None and self.reader.done()

    def got(self) -> str:
        last = f", the last {short(self.received[-1])!r}" if self.received else ""
        return f"{self.name} had received {len(self.received)}{last}"


class Chat:
    """The learner's room served by a real websockets server, and what the tests see of it."""

    def __init__(self, room: chat_room.ChatRoom) -> None:
        self.room = room
        self.port = 0
        self.members: list[Member] = []
        self.errors: list[BaseException] = []  # what room.handler raised
        self.slow_ports: set[int] = set()  # the client ports of members who will stop reading
        self.serving: set[int] = set()  # the client ports whose handler is running
        self.handlers: dict[int, asyncio.Task[Any]] = {}  # each client port's handler task
        self.news = asyncio.Event()  # a member received a message, or the handler failed
        self.waited = 0.0  # how long the last until() waited, in vain

    async def handler(self, websocket: ServerConnection) -> None:
        port = websocket.remote_address[1]
        if port in self.slow_ports:
            # The server's end of a member who stops reading: a small socket send buffer, and
            # the websockets write buffer limit (above which send() waits) as small.
            sock = websocket.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            websocket.transport.set_write_buffer_limits(high=SMALL_BUFFER)
        self.serving.add(port)
        self.handlers[port] = asyncio.current_task()  # type: ignore[assignment]
        try:
            await self.room.handler(websocket)
        except Exception as exc:
            # A TaskGroup's ExceptionGroup: what matters is what its tasks raised.
            self.errors += exc.exceptions if isinstance(exc, ExceptionGroup) else [exc]
            self.news.set()
        finally:
            self.serving.discard(port)

    def outbox_of(self, member: Member) -> asyncio.Queue[Any] | None:
        """The member's outbox in room.members, or None once she is out of the room."""
        mine = [q for ws, q in self.room.members.items() if ws.remote_address[1] == member.port]
        return mine[0] if mine else None

    async def join(self, name: str, *, reads: bool = True) -> Member:
        """Connect a client as `name` and wait until the room counts it as a member.

        A member that does not read gets a small receive buffer and a websockets queue of one
        frame: past that, the client stops reading its socket, as a stalled phone would.
        """
        count = len(self.room.members)
        sock = socket.socket()
        try:
            sock.setblocking(False)
            if not reads:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
            if not reads:
                self.slow_ports.add(sock.getsockname()[1])
            connection = await connect(
                f"ws://127.0.0.1:{self.port}",
                sock=sock,
                max_queue=1 if not reads else 16,
                close_timeout=scaled(WAIT),
            )
        except BaseException:
            sock.close()
            raise
        member = Member(name, connection, self.news)
        self.members.append(member)
        if reads:
            member.start_reading()
        if not await self.until(lambda: len(self.room.members) == count + 1):
            if self.errors:
                self.fail(f"{name} connected, and the room raised that error.")
            self.fail(
                f"{name} connected, but room.members still counts {len(self.room.members)} "
                f"member(s) after {self.waited:.2f} s; expected {count + 1}: a connection "
                "joins the room when its handler starts.\n"
                "Try: at the start of handler(), give the member an outbox: "
                "`self.members[websocket] = asyncio.Queue(maxsize=self.outbox_size)`."
            )
        return member

    async def until(self, condition: Callable[[], bool], seconds: float = WAIT) -> bool:
        """Wait until condition() holds, or the handler has failed, or `seconds` have passed.

        Checked at every message received, and every 5 ms for changes of room.members.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + scaled(seconds)
        while not condition():
            self.waited = loop.time() - start
            if self.errors or loop.time() > deadline:
                return False
            self.news.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.005):
                    await self.news.wait()
        return True

    async def talk(
        self,
        speaker: Member,
        messages: list[str],
        reader: Member,
        after_each: Callable[[int], object] = lambda sent: None,
    ) -> bool:
        """`speaker` sends the messages as a person types: each once the last has reached
        `reader` (no burst bigger than an outbox). False if one of them never arrives.

        after_each(n) is called once the n-th message (counting from 1) has reached `reader`:
        by then the room has put it into every outbox.
        """
        for number, message in enumerate(messages, start=1):
            await speaker.connection.send(message)
            if not await self.until(functools.partial(has_received, reader, number)):
                return False
            after_each(number)
        return True

    def fail(self, message: str) -> NoReturn:
        __tracebackhide__ = True
        if self.errors:
            error = self.errors[0]
            message = (
                f"ChatRoom.handler raised {type(error).__name__}"
                + (f": {error}" if str(error) else "")
                + f"{raised_at(error)}\n"
                + diagnose(error)
                + f"\nWhat the test saw: {message}"
            )
        fail(message)

    async def leave_all(self) -> None:
        """Every client reads again (so full buffers drain), closes, and is closed."""
        for member in self.members:
            member.start_reading()
            if member.speaker is not None:
                member.speaker.cancel()
        await asyncio.gather(*(member.connection.close() for member in self.members))
        await asyncio.gather(*(m.reader for m in self.members if m.reader is not None))
        await asyncio.gather(
            *(m.speaker for m in self.members if m.speaker is not None), return_exceptions=True
        )


def room_frames(error: BaseException) -> list[traceback.FrameSummary]:
    """The frames of the learner's chat_room.py that `error` went through, outermost first."""
    return [
        f for f in traceback.extract_tb(error.__traceback__) if f.filename == chat_room.__file__
    ]


def raised_at(error: BaseException) -> str:
    frames = room_frames(error)
    if not frames:
        return ""
    last = frames[-1]
    return f", at `{(last.line or '').strip()}` in {last.name}() (chat_room.py:{last.lineno})"


def diagnose(error: BaseException) -> str:
    """What the error of the learner's handler tells, from where it came from."""
    if isinstance(error, NotImplementedError):
        return ""
    said = (
        "An error inside handler() ends that member's connection, and the room stops relaying "
        "what the member says.\n"
    )
    if "changed size during iteration" in str(error):
        return said + (
            "The room dropped a member while looping over self.members: loop over a copy, "
            "`for websocket, outbox in list(self.members.items()):`.\n"
        )
    if isinstance(error, asyncio.QueueFull):
        if isinstance(error.__context__, asyncio.QueueFull):
            return said + (
                "It was raised while the room was handling the QueueFull of that same full "
                "outbox: it put something more on it (a sentinel to tell her sender to stop?). "
                "A full outbox has no room for a sentinel either.\n"
                "Try: let the sender find out from self.members: a member who is no longer in "
                "the room gets nothing more from it, and her sender closes her connection.\n"
            )
        return said + (
            "outbox.put_nowait() raises asyncio.QueueFull when the outbox is full: that is the "
            "moment to drop the member. Catch it, and delete the member from self.members.\n"
        )
    if isinstance(error, ConnectionClosed):
        frames = room_frames(error)
        where = frames[0].name if frames else ""
        if where and where != "handler":
            return said + (
                f"It came out of a task of the room, {where}(): a member's connection can end "
                "at any moment, also while her sender task waits in send() or close(), and "
                "that task's error then ends her handler's TaskGroup with it.\n"
                f"Try: catch websockets.exceptions.ConnectionClosed in {where}(): a connection "
                "that closes simply ends that member's sender.\n"
            )
        return said + (
            "`async for message in websocket` raises ConnectionClosedError when the connection "
            "ends with an error code (1008 'too slow', 1006 cut without a close frame).\n"
            "Try: catch websockets.exceptions.ConnectionClosed around that loop.\n"
        )
    return said


def has_received(member: Member, count: int) -> bool:
    return len(member.received) >= count


def qualname(task: asyncio.Task[Any]) -> str:
    return str(getattr(task.get_coro(), "__qualname__", task.get_name()))


@contextlib.asynccontextmanager
async def chat_server(room: chat_room.ChatRoom) -> AsyncIterator[Chat]:
    """Serve `room` on 127.0.0.1 (port 0); on the way out, close every client and the server,
    then check that the room left no task running and raised nothing."""
    chat = Chat(room)
    before = asyncio.all_tasks()
    server = await serve(
        chat.handler,
        "127.0.0.1",
        0,
        compression=None,  # messages keep their size on the wire
        close_timeout=scaled(WAIT),
    )
    chat.port = server.sockets[0].getsockname()[1]
    try:
        yield chat
    finally:
        try:
            await chat.leave_all()
        finally:
            server.close()
            # wait_closed() waits for every handler to return.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(scaled(WAIT)):
                    await server.wait_closed()
    if chat.serving:
        names, line = waiting_at(chat.handlers.get(min(chat.serving)), chat_room)
        chat.fail(
            f"Every member left and the server closed, yet {len(chat.serving)} handler(s) were "
            f"still running {scaled(WAIT):.2f} s later"
            + (f", one of them waiting at {line}" if line else "")
            + ": a handler must return once its member's connection is closed.\n"
            + (
                "Likely mistake: the handler's TaskGroup waits for the member's sender task, "
                "which waits on an empty outbox forever.\n"
                "Try: when the member's `async for` loop ends, cancel its sender."
                if "TaskGroup.__aexit__" in names
                else "Try: return from the handler once the member's `async for` loop ends."
            )
        )
    await asyncio.sleep(0)  # let the connections' own tasks see their cancellation
    left = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    if left:
        running = ", ".join(f"{t.get_name()!r} running {qualname(t)}()" for t in left)
        chat.fail(
            f"Every member left and the server closed, yet {len(left)} task(s) were still "
            f"running: {running}.\n"
            "A member's sender task must end when the member leaves, or it waits on an empty "
            "outbox forever (one leaked task per visitor, for the life of the server).\n"
            "Try: create the sender in `async with asyncio.TaskGroup() as tg:` inside handler() "
            "and cancel it when the member's `async for` loop ends."
        )
    if chat.errors:
        chat.fail("every member left and the server closed.")


def held_up(chat: Chat, readers: list[Member], slow: Member) -> str:
    seen = (
        f"alice sent {MESSAGES} messages of {BIG // 1024} KiB, each once bob had the last one, "
        f"while {slow.name}, also in the room, had stopped reading. "
        + "; ".join(m.got() for m in readers)
    )
    if chat.errors:
        return seen + ", and then the room stopped relaying."
    names, line = waiting_at(chat.handlers.get(readers[0].port), chat_room)
    outbox = chat.outbox_of(slow)
    if "Queue.put" in names:
        mistake = (
            f"Likely mistake: `await outbox.put(message)` on {slow.name}'s full outbox: it waits "
            f"for room, which her sender makes only when she reads again.\n"
        )
    elif outbox is None and any(n.endswith((".close", ".wait_closed")) for n in names):
        mistake = (
            f"The room had dropped {slow.name}, then waited for her connection to close: it "
            f"awaits her close() in the broadcast, and the close waits until she reads the "
            "close frame, that is, until she reads again.\n"
        )
    elif any(n.endswith(".send") for n in names):
        mistake = (
            "Likely mistake: the room awaits each member's send in turn (`for ws in members: "
            f"await ws.send(message)`): {slow.name}'s send() waits until she reads again.\n"
        )
    else:
        mistake = ""
    where = f"alice's handler() was waiting at {line}.\n" if line else ""
    return (
        seen + f", and the next one did not come within {chat.waited:.2f} s; expected each "
        "message at once: a member that stops reading must hold up nobody but herself.\n"
        + where
        + mistake
        + "Try: give each member its own outbox, asyncio.Queue(maxsize=self.outbox_size), "
        "emptied by its own sender task; the broadcast only calls outbox.put_nowait() and "
        "never awaits."
    )
