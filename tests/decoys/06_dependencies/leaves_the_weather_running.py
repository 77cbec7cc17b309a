"""Waits for the weather with asyncio.wait(timeout=deadline) and never cancels it: it runs on.

caught by: test_a_failing_service_stops_the_calls_still_running
says: apart from the others, and nothing cancelled it
"""

import asyncio
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class User:
    """A user as the user service knows them; the orders service knows them by `account`."""

    id: int
    name: str
    account: str


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows."""

    user: User
    orders: list[str]
    news: list[str]
    weather: str | None


class Api(Protocol):
    """The four services behind the dashboard (the times are what each call takes)."""

    async def fetch_user(self, user_id: int) -> User:
        """The user with this id (0.1 s)."""
        ...

    async def fetch_orders(self, user: User) -> list[str]:
        """The user's orders (0.1 s). Needs the User that fetch_user returned."""
        ...

    async def fetch_news(self) -> list[str]:
        """Today's headlines (0.3 s). Needs nothing."""
        ...

    async def fetch_weather(self) -> str:
        """Today's forecast (0.2 s). Needs nothing."""
        ...


async def build_dashboard(
    api: Api, user_id: int, *, weather_deadline: float | None = None
) -> Dashboard:
    async def user_and_orders() -> tuple[User, list[str]]:
        user = await api.fetch_user(user_id)
        return user, await api.fetch_orders(user)

    weather = asyncio.create_task(api.fetch_weather())
    async with asyncio.TaskGroup() as tg:
        chain = tg.create_task(user_and_orders())
        news = tg.create_task(api.fetch_news())
        done, _ = await asyncio.wait({weather}, timeout=weather_deadline)
    user, orders = chain.result()
    return Dashboard(user, orders, news.result(), weather.result() if weather in done else None)
