"""Broadcasts by awaiting each member's send in turn: a member that stops reading stops the room.

caught by: test_a_member_who_stops_reading_does_not_hold_up_the_others
says: awaits each member's send in turn
"""

import asyncio
import contextlib

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Data


class ChatRoom:
    def __init__(self, outbox_size: int = 16) -> None:
        self.outbox_size = outbox_size
        self.members: dict[ServerConnection, asyncio.Queue[Data]] = {}

    async def handler(self, websocket: ServerConnection) -> None:
        self.members[websocket] = asyncio.Queue(maxsize=self.outbox_size)  # never used
        try:
            with contextlib.suppress(ConnectionClosed):
                async for message in websocket:
                    # Send it to every member, one after another.
                    for member in list(self.members):
                        with contextlib.suppress(ConnectionClosed):
                            await member.send(message)
        finally:
            self.members.pop(websocket, None)
