"""sends a new user with PUT instead of POST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class User:
    """A user of the service, as its JSON spells one: {"id": 7, "name": "Ada"}."""

    id: int
    name: str


class ServiceError(Exception):
    """The users service failed a call: `status` is its HTTP status, None if no answer came."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


class UsersClient:
    """A client of the users service at `base_url`, through the caller's aiohttp session.

    - `get_user(user_id)` sends GET {base_url}/users/{user_id}: a 200 gives the User of its
      JSON body, a 404 gives None;
    - `create_user(name)` sends POST {base_url}/users with the JSON body {"name": name}: a 201
      gives the User the service made, with the id it gave;
    - `all_users()` sends GET {base_url}/users, then GET to each page's "next" URL until a
      page has none: every user of every page, in order. A page is the JSON
      {"users": [{"id": 1, "name": "Ada"}, ...], "next": "http://...?page=2"} ("next": null
      on the last page);
    - any other status raises ServiceError with that status, and so does an answer whose body
      is not JSON; no answer at all (a connection refused or dropped, the session's timeout)
      raises ServiceError with status None.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base_url = base_url

    async def get_user(self, user_id: int) -> User | None:
        """The user with this id, or None if the service has none."""
        try:
            body = await self._call("GET", f"{self._base_url}/users/{user_id}", expect=200)
        except ServiceError as error:
            if error.status == 404:  # no such user: an answer, not a failure
                return None
            raise
        return _user(body)

    async def create_user(self, name: str) -> User:
        """A new user with this name, as the service made it."""
        url = f"{self._base_url}/users"
        return _user(await self._call("PUT", url, expect=201, json={"name": name}))

    async def all_users(self) -> list[User]:
        """Every user, page after page."""
        users: list[User] = []
        url: str | None = f"{self._base_url}/users"
        while url is not None:
            page = await self._call("GET", url, expect=200)
            users += [_user(item) for item in page["users"]]
            url = page["next"]
        return users

    async def _call(self, method: str, url: str, *, expect: int, **options: Any) -> Any:
        """The JSON body of an answer with status `expect`; ServiceError for anything else."""
        try:
            # `async with` releases the response, and its connection, however the block ends.
            async with self._session.request(method, url, **options) as response:
                # The status first: the body of an error answer is rarely JSON.
                if response.status != expect:
                    raise ServiceError(response.status, f"{method} {url}: HTTP {response.status}")
                try:
                    return await response.json()
                except (aiohttp.ContentTypeError, ValueError) as error:  # an answer, not JSON
                    raise ServiceError(response.status, f"{method} {url}: {error}") from error
        # No answer: refused or dropped (aiohttp.ClientError), or the session's own timeout,
        # which is a plain TimeoutError, not an aiohttp.ClientError.
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ServiceError(None, f"{method} {url}: {error!r}") from error


def _user(data: Any) -> User:
    return User(id=data["id"], name=data["name"])
