"""Kata 36: chat room - every member gets every message, and a slow member slows nobody."""

import asyncio
import contextlib

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.typing import Data


class ChatRoom:
    """A chat room for a websockets server: `serve(room.handler, "127.0.0.1", 0)`.

    Every message a member sends goes to every member, the sender too, in one order for all.
    Each member has an outbox of at most `outbox_size` messages, emptied by its own sender
    task, so a member that stops reading holds up nobody but itself. A member whose outbox is
    full when a message arrives is too slow: it leaves `members` at once, gets no further
    message, and its connection is closed with code 1008 (policy violation), reason "too slow".
    A member who disconnects leaves `members` too, and no task of it is left running.
    """

    def __init__(self, outbox_size: int = 16) -> None:
        self.outbox_size = outbox_size
        # The members' connections, each with its outbox: the messages it has yet to be sent.
        self.members: dict[ServerConnection, asyncio.Queue[Data]] = {}

    async def handler(self, websocket: ServerConnection) -> None:
        """Serve one member from the moment it connects until it leaves or is dropped.

        Joins the room, relays every message it sends to the whole room, and cleans up
        (leaves `members`, stops its sender task) however the connection ends.
        """
        outbox: asyncio.Queue[Data] = asyncio.Queue(maxsize=self.outbox_size)
        self.members[websocket] = outbox
        try:
            async with asyncio.TaskGroup() as tg:
                # Its own sender: a member that reads slowly holds up only this task.
                sender = tg.create_task(self._send_outbox(websocket, outbox))
                # Until the member leaves; a connection cut or closed for slowness ends it too.
                with contextlib.suppress(ConnectionClosed):
                    async for message in websocket:
                        self._broadcast(message)
                # Stop its sender (the task group waits for it).
                sender.cancel()
        finally:
            self.members.pop(websocket, None)

    def _broadcast(self, message: Data) -> None:
        # No await: the message goes into every outbox at once, so all see one order.
        for websocket, outbox in list(self.members.items()):  # a copy: we may drop members
            try:
                outbox.put_nowait(message)
            except asyncio.QueueFull:
                # Too slow: out of the room now; its sender closes the connection.
                del self.members[websocket]

    async def _send_outbox(self, websocket: ServerConnection, outbox: asyncio.Queue[Data]) -> None:
        # A connection that closes under the sender simply ends it.
        with contextlib.suppress(ConnectionClosed):
            # One message at a time, in order, for as long as the member is in the room.
            while websocket in self.members:
                await websocket.send(await outbox.get())
            await websocket.close(CloseCode.POLICY_VIOLATION, "too slow")
