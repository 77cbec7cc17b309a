"""Tells a dropped member's sender to close by putting a None sentinel on her (full) outbox.

caught by: test_a_member_who_stops_reading_does_not_hold_up_the_others
says: no room for a sentinel
"""

import asyncio
import contextlib

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.typing import Data


class ChatRoom:
    def __init__(self, outbox_size: int = 16) -> None:
        self.outbox_size = outbox_size
        # The members' connections, each with its outbox: the messages it has yet to be sent.
        self.members: dict[ServerConnection, asyncio.Queue[Data | None]] = {}

    async def handler(self, websocket: ServerConnection) -> None:
        outbox: asyncio.Queue[Data | None] = asyncio.Queue(maxsize=self.outbox_size)
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
                # Too slow: out of the room now; None tells her sender to close.
                del self.members[websocket]
                outbox.put_nowait(None)

    async def _send_outbox(
        self, websocket: ServerConnection, outbox: asyncio.Queue[Data | None]
    ) -> None:
        # A connection that closes under the sender simply ends it.
        with contextlib.suppress(ConnectionClosed):
            # One message at a time, in order, until the sentinel comes.
            while (message := await outbox.get()) is not None:
                await websocket.send(message)
            await websocket.close(CloseCode.POLICY_VIOLATION, "too slow")
