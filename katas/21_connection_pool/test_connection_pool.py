from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import connection_pool
import pytest
from connection_pool import Connection, Pool
from harness import Timeline, cancel_midway, fail, scaled, started_tasks

CONNECT, QUERY = 0.1, 0.05  # seconds a connect() and a query take on the timeline
SLOW_QUERY = "SELECT pg_sleep(10)"  # a query still running when the test cancels it
BAD_QUERY = "SELECT * FROM no_such_table"  # a query that fails
PATIENCE = 1.0  # how long a test waits for a connection that should be free at once

# The two forms of the same context manager; every test runs with each of them.
Form = Callable[[Pool], AbstractAsyncContextManager[Connection]]
FORMS: dict[str, tuple[Form, str]] = {
    "class": (lambda pool: connection_pool.PooledConnection(pool), "PooledConnection(pool)"),
    "asynccontextmanager": (lambda pool: pool.connection(), "pool.connection()"),
}
each_form = pytest.mark.parametrize("form", list(FORMS))

ACQUIRE = (
    "in acquire(), take the slot (`await self._slots.acquire()`), then connect inside "
    "`try:`, and give the slot back (`self._slots.release()`) in `except BaseException:` "
    "before you re-raise"
)
FINALLY = {
    "class": "__aexit__ is called on every way out of the block: release there, always",
    "asynccontextmanager": "`try: yield conn` and `finally: pool.release(conn)`",
}


@each_form
async def test_uses_one_after_another_share_one_connection(form: str, timeline: Timeline) -> None:
    db = Database(timeline)
    pool = Pool(db.connect, size=2)
    used = []
    for _ in range(3):
        async with borrow(form, pool) as conn:
            used.append(conn)
            await conn.execute("SELECT 1")
    if len(db.opened) == 1 and used == [db.opened[0]] * 3:
        return
    verdict = (
        "the pool opened a new connection for every use instead of reusing the free one"
        if len(db.opened) == len(used)
        else "the pool opened a connection while one was free (open them only when needed)"
    )
    fail(
        f"Three `async with {FORMS[form][1]} as conn:` blocks one after another (pool size 2) "
        f"called connect() {len(db.opened)} times and got {used}, although each block had "
        f"given its connection back before the next one began: {verdict}.\n"
        "Opening a connection is the slow part (0.1 s here; TCP, TLS and a login for real): "
        "reusing it is why pools exist.\n"
        "Expected: connect() once, and conn 1 lent to all three blocks.\n"
        "Try: release() keeps the connection (a list of idle connections), and acquire() "
        f"lends an idle one when there is one, calling connect() only when there is none.\n\n"
        f"{timeline.draw()}"
    )


@each_form
async def test_never_more_than_size_connections_out_and_the_others_wait(
    form: str, timeline: Timeline
) -> None:
    db = Database(timeline)
    pool = Pool(db.connect, size=2)
    holding: list[Connection] = []
    shared: set[Connection] = set()

    async def user(n: int) -> str:
        async with borrow(form, pool) as conn:
            if conn in holding:
                shared.add(conn)
            holding.append(conn)
            try:
                return await conn.execute(f"SELECT {n}")
            finally:
                holding.remove(conn)

    async with borrow(form, pool):  # a first user: conn 1 is idle when the four arrive
        pass
    results = await asyncio.gather(*(user(n) for n in range(1, 5)), return_exceptions=True)
    call = (
        f"Four users at once, each in `async with {FORMS[form][1]} as conn:` (pool size 2, "
        "conn 1 idle)"
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    peak = timeline.peak  # connects and queries in flight: connections opening or in use
    if errors and all(isinstance(e, NotImplementedError) for e in errors):
        raise errors[0]
    if errors:
        mistake = (
            f"{len(errors)} of them failed with {errors[0]!r} instead of waiting for a "
            "connection. A full pool is not an error: the user waits until one comes back.\n"
            "Try: an asyncio.Semaphore(size): `await` its acquire() in acquire(), release() it "
            "in release(); a user finding no free slot waits there."
        )
    elif peak > 2:
        why = (
            "nothing limited them"
            if peak >= 4
            else "some users got one without waiting for a free slot. Does acquire() lend an "
            "idle connection before it waits (only connect() waits)? Then release() frees a "
            "slot nobody took, and the limit grows with every use"
        )
        mistake = (
            f"{peak} connections were in use or being opened at the same time: {why}; "
            f"connect() was called {len(db.opened)} times.\n"
            "Try: an asyncio.Semaphore(size) created in __init__: acquire() awaits it first, "
            "before it lends or opens a connection; release() releases it."
        )
    elif peak < 2:
        mistake = (
            "only one connection was out at a time: the users went one at a time, although "
            "the pool may lend 2 at once. An asyncio.Lock lets one holder through, not `size`.\n"
            "Try: asyncio.Semaphore(size), which lets `size` holders through at once."
        )
    elif shared:
        mistake = (
            f"{sorted(map(str, shared))} was lent to two users at the same time: a connection "
            "still out was handed out again.\nTry: take a connection out of the idle ones "
            "when you lend it (list.pop()), and put it back only in release()."
        )
    elif len(db.opened) > 2:
        mistake = (
            f"connect() was called {len(db.opened)} times: users got new connections "
            "instead of the ones given back.\n"
            "Try: acquire() lends an idle connection when there is one."
        )
    else:
        return
    fail(f"{call}: {mistake}\n\n{timeline.draw()}")


@each_form
async def test_the_connection_comes_back_after_the_body_raises(
    form: str, timeline: Timeline
) -> None:
    db = Database(timeline)
    pool = Pool(db.connect, size=1)
    with contextlib.suppress(QueryError):  # whether it goes on up is the next test's concern
        async with borrow(form, pool) as conn:
            await conn.execute(BAD_QUERY)
    await next_user_gets(
        form,
        pool,
        db,
        after="ran a query that raised QueryError",
        mistake="Likely mistake: the connection is given back only when the body succeeds. "
        "In an @asynccontextmanager function the body's exception is raised AT the `yield`, "
        "so a release written after the `yield` is skipped; in __aexit__, a release under "
        "`if exc_type is None:` is skipped the same way.",
    )


@each_form
async def test_the_error_raised_in_the_body_reaches_the_caller(
    form: str, timeline: Timeline
) -> None:
    db = Database(timeline)
    pool = Pool(db.connect, size=1)
    try:
        async with borrow(form, pool) as conn:
            await conn.execute(BAD_QUERY)
    except QueryError:
        return
    fail(
        f"`async with {FORMS[form][1]} as conn:` ran a query that raised QueryError, and "
        "the block ended as if nothing had happened: the context manager swallowed the "
        "exception. The caller now believes the query succeeded.\n"
        "Likely mistake: __aexit__ returns True (a true value tells Python the exception was "
        "handled), or an `except Exception:` around the `yield` that does not re-raise.\n"
        "Expected: the connection given back, then the QueryError going on up to the caller.\n"
        "Try: return None from __aexit__ (no return statement); around the `yield`, "
        f"try/finally, not except.\n\n{timeline.draw()}"
    )


@each_form
async def test_a_body_cancelled_mid_query_gives_the_connection_back(
    form: str, timeline: Timeline
) -> None:
    db = Database(timeline)
    pool = Pool(db.connect, size=1)
    await cancel_mid_query(form, pool, db)
    raising = Database(timeline)
    pool_after_error = Pool(raising.connect, size=1)
    with contextlib.suppress(QueryError):
        async with borrow(form, pool_after_error) as conn:
            await conn.execute(BAD_QUERY)
    freed_after_error = await gets_a_connection(form, pool_after_error) is raising.opened[0]
    await next_user_gets(
        form,
        pool,
        db,
        after="was cancelled in the middle of a query (task.cancel())",
        mistake=(
            "The same pool gets the connection back when the body raises an error, so the "
            "release runs for an exception but not for a cancellation: CancelledError is not "
            "an Exception (it is a BaseException), so a release in `except Exception:` (or, in "
            "__aexit__, under `if issubclass(exc_type, Exception):`) never runs for it."
            if freed_after_error
            else "The connection is not given back when the body is cancelled."
        ),
    )


@each_form
async def test_a_body_cancelled_mid_query_ends_cancelled(form: str, timeline: Timeline) -> None:
    db = Database(timeline)
    task = await cancel_mid_query(form, Pool(db.connect, size=1), db)
    if task.cancelled():
        return
    if not task.done():
        what = f"was still running {scaled(PATIENCE):.1f} s later: it ignored the cancel"
    elif task.exception() is not None:
        what = f"ended with {task.exception()!r} instead of ending cancelled"
    else:
        what = (
            "returned normally: the context manager swallowed the CancelledError, so whoever "
            "cancelled the task (a timeout, a TaskGroup, a shutdown) believes it finished its "
            "work.\nLikely mistake: __aexit__ returns True, or an `except BaseException:` "
            "(or a bare `except:`) around the `yield` that does not re-raise"
        )
    fail(
        f"A task in `async with {FORMS[form][1]} as conn:` was cancelled in the middle of a "
        f"query and {what}.\n"
        "Expected: the connection given back, then the task ends cancelled "
        "(task.cancelled() is True).\n"
        "Try: return None from __aexit__; around the `yield`, try/finally, which lets the "
        f"CancelledError go on up by itself.\n\n{timeline.draw()}"
    )


@each_form
async def test_a_failed_connect_gives_its_slot_back(form: str, timeline: Timeline) -> None:
    db = Database(timeline, failing=1)
    pool = Pool(db.connect, size=1)
    with contextlib.suppress(ConnectError):
        async with borrow(form, pool):
            fail("the block ran although connect() had raised ConnectError")
    await next_user_gets(
        form,
        pool,
        db,
        after="failed: its connect() raised ConnectError (the database was restarting)",
        mistake="The slot the failed connect() had taken was never freed.",
        new_is_right=True,
    )


@each_form
async def test_a_user_cancelled_while_connecting_or_waiting_gives_its_slot_back(
    form: str, timeline: Timeline
) -> None:
    async with borrow(form, Pool(Database(timeline).connect, size=1)):
        pass  # a pool that works (not the stub) before anything is cancelled
    db = Database(timeline)
    pool = Pool(db.connect, size=1)
    call = FORMS[form][1]

    async def use() -> None:
        async with borrow(form, pool) as conn:
            await conn.execute("SELECT 1")

    await cancel_midway(use(), after=CONNECT / 2, what=f"`async with {call}`", timeline=timeline)
    failing = Database(timeline, failing=1)
    pool_after_error = Pool(failing.connect, size=1)
    with contextlib.suppress(ConnectError):
        async with borrow(form, pool_after_error):
            pass
    freed_after_error = await gets_a_connection(form, pool_after_error) is not None
    await next_user_gets(
        form,
        pool,
        db,
        after="was cancelled while its connect() ran",
        mistake=(
            "The same pool frees the slot when connect() raises an error, so the release "
            "runs for an exception but not for a cancellation: CancelledError is not an "
            "Exception (it is a BaseException), so a release in `except Exception:` never runs "
            "for it."
            if freed_after_error
            else "A slot taken by a cancelled acquire() was never freed."
        ),
        new_is_right=True,
    )
    async with borrow(form, pool):  # holds the one connection while the next user waits
        await cancel_midway(
            use(), after=QUERY, what=f"`async with {call}`, waiting,", timeline=timeline
        )
    await next_user_gets(
        form,
        pool,
        db,
        after="was cancelled while it waited for a connection (all of them were out)",
        mistake="A user cancelled while it waited still took a slot.",
        new_is_right=True,
    )


@each_form
async def test_users_waiting_for_a_connection_are_not_woken_again_and_again(
    form: str, timeline: Timeline
) -> None:
    db = Database(timeline)
    pool = Pool(db.connect, size=1)

    async def user(n: int) -> None:
        async with borrow(form, pool) as conn:
            await conn.execute(f"SELECT {n}")
            await conn.execute(f"SELECT {n} again")

    with started_tasks(count_wakeups=True) as started:
        async with asyncio.TaskGroup() as tg:
            for n in range(1, 5):
                tg.create_task(user(n))
    # A user wakes once for its connection (or its connect), once per query, and up to twice
    # more per timed call under stress jitter: 1 + 2 + 3 x 2.
    started.expect_no_polling(
        most=9,
        what=f"4 users of `async with {FORMS[form][1]}` on a pool of size 1 (the last one "
        f"waits {scaled(CONNECT + 6 * QUERY):.2f} s)",
        wait_on="an asyncio.Semaphore(size) in acquire(), released in release()",
        timeline=timeline,
    )


class QueryError(Exception):
    """The database refused a query."""


class FakeConnection:
    def __init__(self, db: Database, number: int) -> None:
        self.db = db
        self.name = f"conn {number}"

    def __repr__(self) -> str:
        return self.name

    async def execute(self, query: str) -> str:
        if not self.db.querying.done():
            self.db.querying.set_result(None)
        error = QueryError(f"no such table (query: {query})") if query == BAD_QUERY else None
        delay = 10.0 if query == SLOW_QUERY else QUERY
        result: str = await self.db.timeline.work(f"{self}: {query}", delay, "ok", error=error)
        return result


class ConnectError(Exception):
    """The database refused a connection."""


class Database:
    """A fake database on the timeline: connect() takes 0.1 s and is counted; queries 0.05 s.

    The first `failing` connects raise ConnectError at the end of their 0.1 s."""

    def __init__(self, timeline: Timeline, failing: int = 0) -> None:
        self.timeline = timeline
        self.failing = failing
        self.attempts = 0
        self.opened: list[FakeConnection] = []
        self.querying = asyncio.get_running_loop().create_future()  # done once a query starts

    async def connect(self) -> FakeConnection:
        self.attempts += 1
        if self.attempts <= self.failing:
            error = ConnectError("connection refused")
            await self.timeline.work(f"connect() #{self.attempts}", CONNECT, error=error)
        conn = FakeConnection(self, len(self.opened) + 1)
        self.opened.append(conn)
        await self.timeline.work(f"connect() -> {conn}", CONNECT)
        return conn


def borrow(form: str, pool: Pool) -> AbstractAsyncContextManager[Connection]:
    return FORMS[form][0](pool)


async def gets_a_connection(form: str, pool: Pool) -> Connection | None:
    """The connection one more `async with` on the pool gets, or None if it waits in vain."""
    try:
        async with asyncio.timeout(scaled(PATIENCE)), borrow(form, pool) as conn:
            return conn
    except TimeoutError:
        return None


async def next_user_gets(
    form: str, pool: Pool, db: Database, after: str, mistake: str, new_is_right: bool = False
) -> None:
    """One more `async with` on the pool of size 1: fails the test unless its connection is
    back (or, with `new_is_right`, unless it gets one at all: the first may never have opened)."""
    call = FORMS[form][1]
    first = db.opened[0] if db.opened else None
    conn = await gets_a_connection(form, pool)
    if conn is None:
        got = f"waited {scaled(PATIENCE):.1f} s and got no connection"
    elif new_is_right or (conn is first and len(db.opened) == 1):
        return
    else:
        got = f"got {conn}, a new connection opened with connect()"
    lost = f"{first}" if first and not new_is_right else "its slot"
    fail(
        f"`async with {call} as conn:` {after}. The pool has size 1, and the next user {got}: "
        f"{lost} was lost (lose a few like this and the pool runs dry).\n"
        f"{mistake}\nExpected: the pool whole again, and the next user served at once.\n"
        f"Try: {FINALLY[form] if not new_is_right else ACQUIRE}.\n\n{db.timeline.draw()}"
    )


async def cancel_mid_query(form: str, pool: Pool, db: Database) -> asyncio.Task[None]:
    """A task running a slow query in the block, cancelled while the query runs."""

    async def user() -> None:
        async with borrow(form, pool) as conn:
            await conn.execute(SLOW_QUERY)

    task = asyncio.create_task(user(), name="user")
    await asyncio.wait({task, db.querying}, return_when=asyncio.FIRST_COMPLETED)
    if not db.querying.done():
        task.result()  # the context manager's own error (or a user that never queried)
    task.cancel()
    await asyncio.wait({task}, timeout=scaled(PATIENCE))
    if task.done() and not task.cancelled():
        task.exception()  # seen here, so it is not reported again as a lost error
    return task
