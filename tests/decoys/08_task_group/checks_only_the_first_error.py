"""Catches the group with a plain `except ExceptionGroup` and explains only its first error.

caught by: test_every_sold_out_service_is_named
says: no except* clause split the group
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# A booking: call it to get a coroutine that books one service and returns its confirmation.
Booking = Callable[[], Coroutine[Any, Any, str]]


class SoldOut(Exception):
    """Nothing left to book at this service: no seat, no room, no car."""

    def __init__(self, service: str) -> None:
        super().__init__(f"{service} is sold out")
        self.service = service


class PaymentDeclined(Exception):
    """The card was refused when this service tried to charge it."""

    def __init__(self, service: str) -> None:
        super().__init__(f"{service}: payment declined")
        self.service = service


async def book_trip(services: dict[str, Booking]) -> dict[str, str]:
    """Run every booking at the same time; return {service: confirmation}.

    If one booking fails, the bookings still running are cancelled (and have finished
    cancelling) before the error reaches the caller, as an ExceptionGroup.

    >>> asyncio.run(book_trip({"flight": book_flight, "hotel": book_hotel}))
    {'flight': 'AF 1234', 'hotel': 'Ritz #12'}
    """
    # The TaskGroup runs the bookings together; the first failure cancels the others and
    # waits for them to finish cancelling before it raises the ExceptionGroup.
    async with asyncio.TaskGroup() as tg:
        tasks = {name: tg.create_task(book()) for name, book in services.items()}
    # Leaving the block without an error means every booking succeeded.
    return {name: task.result() for name, task in tasks.items()}


async def book_trip_or_explain(services: dict[str, Booking]) -> str:
    """Book the trip and say how it went, in one line.

    - everything booked: "booked: " and the confirmations, in the order of `services`,
      joined by ", ";
    - services sold out: "sold out: " and their names, sorted, joined by ", ";
    - a card declined: "payment declined";
    - both at once: both sentences, joined by "; ".
    Any other error propagates to the caller, even when it came with a SoldOut.

    >>> asyncio.run(book_trip_or_explain(services))   # the hotel is full
    'sold out: hotel'
    """
    try:
        confirmations = await book_trip(services)
    except ExceptionGroup as group:
        first = group.exceptions[0]
        if isinstance(first, SoldOut):
            return f"sold out: {first.service}"
        if isinstance(first, PaymentDeclined):
            return "payment declined"
        raise
    return "booked: " + ", ".join(confirmations.values())
