"""Gathers with return_exceptions=True and raises afterwards: a failure waits for the slowest.

caught by: test_a_failed_booking_cancels_the_bookings_still_running
says: raised the hotel's SoldOut only once they were done
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
    results = await asyncio.gather(*(book() for book in services.values()), return_exceptions=True)
    errors = [result for result in results if isinstance(result, Exception)]
    if errors:
        raise ExceptionGroup("booking failed", errors)
    return dict(zip(services, results))


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
    problems: list[str] = []  # `return` is not allowed inside except*: collect, then return
    try:
        confirmations = await book_trip(services)
    # Each except* clause takes every error of its type out of the group, however many.
    except* SoldOut as group:
        names = sorted(error.service for error in group.exceptions if isinstance(error, SoldOut))
        problems.append(f"sold out: {', '.join(names)}")
    except* PaymentDeclined:
        problems.append("payment declined")
    else:
        return "booked: " + ", ".join(confirmations.values())
    # Errors of any other type matched no clause: except* has re-raised them to the caller.
    return "; ".join(problems)
