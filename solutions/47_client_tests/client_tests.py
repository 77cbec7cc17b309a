"""Tests for UsersClient (given/users_api.py): with a mock session, and against a
real local server."""

import json
from collections.abc import Callable, Iterable
from unittest.mock import AsyncMock, MagicMock

import aiohttp
import pytest
from aiohttp import web
from servers import HttpServer
from users_api import ServiceError, User, UsersClient

StartServer = Callable[[Iterable[web.AbstractRouteDef]], HttpServer]

BASE = "http://users.test"  # the mock tests' service: nothing listens there, nothing needs to
ADA, GRACE, LINUS = {"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}, {"id": 3, "name": "Linus"}


# With a mock: the session's `request` hands back canned answers, and records each call.


async def test_with_a_mock_get_user_sends_get_and_gives_a_user_or_none() -> None:
    session = mock_session(answer(200, ADA), answer(404))
    client = UsersClient(session, BASE)
    assert await client.get_user(1) == User(1, "Ada")
    assert await client.get_user(9) is None
    assert [c.args for c in session.request.call_args_list] == [
        ("GET", f"{BASE}/users/1"),
        ("GET", f"{BASE}/users/9"),
    ]


async def test_with_a_mock_a_500_raises_service_error_with_its_status() -> None:
    session = mock_session(answer(500))
    with pytest.raises(ServiceError) as raised:
        await UsersClient(session, BASE).get_user(1)
    assert raised.value.status == 500


async def test_with_a_mock_create_user_posts_the_name_as_json_and_gives_the_new_user() -> None:
    session = mock_session(answer(201, GRACE))
    assert await UsersClient(session, BASE).create_user("Grace") == User(2, "Grace")
    session.request.assert_called_once_with("POST", f"{BASE}/users", json={"name": "Grace"})


async def test_with_a_mock_all_users_follows_next_to_the_last_page() -> None:
    second = f"{BASE}/users?page=2"
    session = mock_session(answer(200, page([ADA, GRACE], second)), answer(200, page([LINUS])))
    users = await UsersClient(session, BASE).all_users()
    assert users == [User(1, "Ada"), User(2, "Grace"), User(3, "Linus")]
    assert [c.args for c in session.request.call_args_list] == [
        ("GET", f"{BASE}/users"),
        ("GET", second),
    ]


async def test_with_a_mock_a_timeout_raises_service_error_without_a_status() -> None:
    session = mock_session(TimeoutError())  # what a session raises when its timeout expires
    with pytest.raises(ServiceError) as raised:
        await UsersClient(session, BASE).get_user(1)
    assert raised.value.status is None


async def test_with_a_mock_a_body_that_is_not_json_raises_service_error_with_its_status() -> None:
    session = mock_session(answer(200, error=json.JSONDecodeError("Expecting value", "<p>", 0)))
    with pytest.raises(ServiceError) as raised:
        await UsersClient(session, BASE).get_user(1)
    assert raised.value.status == 200


# With a server: a real HTTP service on 127.0.0.1, and a real session talking to it.


async def test_with_a_server_get_user_gives_a_user_or_none(http_server: StartServer) -> None:
    server = http_server(UsersService(ADA).routes())
    async with aiohttp.ClientSession() as session:
        client = UsersClient(session, server.url)
        assert await client.get_user(1) == User(1, "Ada")
        assert await client.get_user(9) is None


async def test_with_a_server_create_user_posts_json_and_gives_the_new_user(
    http_server: StartServer,
) -> None:
    service = UsersService(ADA)
    server = http_server(service.routes())
    async with aiohttp.ClientSession() as session:
        assert await UsersClient(session, server.url).create_user("Grace") == User(2, "Grace")
    assert service.users == {1: "Ada", 2: "Grace"}


async def test_with_a_server_all_users_reads_every_page(http_server: StartServer) -> None:
    server = http_server(UsersService(ADA, GRACE, LINUS).routes())  # two pages
    async with aiohttp.ClientSession() as session:
        users = await UsersClient(session, server.url).all_users()
    assert users == [User(1, "Ada"), User(2, "Grace"), User(3, "Linus")]


async def test_with_a_server_a_500_and_an_html_page_raise_service_error_with_their_status(
    http_server: StartServer,
) -> None:
    server = http_server([web.get("/users/1", broken), web.get("/users/2", html_page)])
    async with aiohttp.ClientSession() as session:
        client = UsersClient(session, server.url)
        with pytest.raises(ServiceError) as a_500:
            await client.get_user(1)
        with pytest.raises(ServiceError) as not_json:
            await client.get_user(2)
    assert (a_500.value.status, not_json.value.status) == (500, 200)


# The fakes: a mock session and its canned answers; a users service for the real server.


def mock_session(*outcomes: MagicMock | BaseException) -> MagicMock:
    """A session whose `request(...)`, used as `async with`, gives each outcome in turn: an
    answer, or an exception (raised the way aiohttp raises it, when the request is awaited)."""
    session = MagicMock(spec=aiohttp.ClientSession)
    contexts = []
    for outcome in outcomes:
        context = MagicMock()
        if isinstance(outcome, BaseException):
            context.__aenter__.side_effect = outcome
        else:
            context.__aenter__.return_value = outcome
        contexts.append(context)
    session.request.side_effect = contexts
    return session


def answer(status: int, body: object = None, error: Exception | None = None) -> MagicMock:
    """A canned response: its status, and what `await response.json()` gives or raises."""
    response = MagicMock(spec=aiohttp.ClientResponse, status=status)
    response.json = AsyncMock(return_value=body, side_effect=error)
    return response


def page(users: list[dict[str, object]], next_url: str | None = None) -> dict[str, object]:
    return {"users": users, "next": next_url}


class UsersService:
    """The users service as the docstring describes it, for a real server: users kept in a
    dict, pages of two."""

    PER_PAGE = 2

    def __init__(self, *users: dict[str, object]) -> None:
        self.users = {int(str(user["id"])): str(user["name"]) for user in users}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/users/{id}", self.get_user),
            web.post("/users", self.create_user),
            web.get("/users", self.page),
        ]

    async def get_user(self, request: web.Request) -> web.Response:
        user_id = int(request.match_info["id"])
        if user_id not in self.users:
            raise web.HTTPNotFound()  # as aiohttp answers it: a text body, not JSON
        return web.json_response({"id": user_id, "name": self.users[user_id]})

    async def create_user(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType()
        name = (await request.json())["name"]
        user_id = max(self.users, default=0) + 1
        self.users[user_id] = name
        return web.json_response({"id": user_id, "name": name}, status=201)

    async def page(self, request: web.Request) -> web.Response:
        number = int(request.query.get("page", "1"))
        ids = sorted(self.users)[(number - 1) * self.PER_PAGE : number * self.PER_PAGE]
        more = len(self.users) > number * self.PER_PAGE
        return web.json_response(
            {
                "users": [{"id": i, "name": self.users[i]} for i in ids],
                "next": str(request.url.with_query(page=number + 1)) if more else None,
            }
        )


async def broken(request: web.Request) -> web.Response:
    raise web.HTTPInternalServerError()


async def html_page(request: web.Request) -> web.Response:
    return web.Response(text="<html>Service Unavailable</html>", content_type="text/html")
