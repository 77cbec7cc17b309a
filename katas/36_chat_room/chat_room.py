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
        raise NotImplementedError(
            "write ChatRoom.handler(): join the room (an outbox in self.members and a sender "
            "task), put every message the member sends into every outbox, clean up when it leaves"
        )
