from __future__ import annotations

import asyncio
import functools
import queue
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from bank_db import Bank, InsufficientFunds, UnknownAccount
from harness import Timeline, fail, outcome, scaled

CONNECT = sqlite3.connect  # the real one: the test's own connections are not watched
ACCOUNTS = {"alice": 100, "bob": 100, "carol": 100, "dave": 100, "frozen": 100}
SCHEMA = """
-- Write-ahead logging, as advised for readers beside a writer (it stays set in the file).
PRAGMA journal_mode = WAL;
CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL);
-- The database itself refuses to change a frozen account, in the middle of a transfer.
CREATE TRIGGER frozen_account BEFORE UPDATE ON accounts WHEN OLD.name = 'frozen'
BEGIN SELECT RAISE(ABORT, 'the account is frozen'); END;
"""
PATIENCE = 0.5  # seconds a read may take while the database is busy elsewhere
HOLD = 0.3  # seconds a held statement, or another process, keeps the database busy


async def test_a_transfer_moves_the_money_into_the_file(database: Database) -> None:
    async with Bank(database.path) as bank:
        await bank.transfer("alice", "bob", 30)
        seen = {name: await bank.balance(name) for name in ("alice", "bob")}
    in_file = balances_in(database.path)
    expected = {**ACCOUNTS, "alice": 70, "bob": 130}
    if seen == {"alice": 70, "bob": 130} and in_file == expected:
        return
    fail(
        f"After transfer('alice', 'bob', 30), balance() said {seen} and the database file holds "
        f"{in_file}; expected alice 70 and bob 130 in both.\n"
        + (
            "Likely mistake: the transfer was never committed (await db.commit()).\n"
            if in_file == ACCOUNTS
            else ""
        )
        + "Try: UPDATE both balances on the writer connection, then `await db.commit()`."
    )


async def test_a_transfer_the_database_refuses_halfway_changes_nothing(database: Database) -> None:
    path = database.path
    async with Bank(path) as bank:
        for source, target in (("alice", "frozen"), ("frozen", "alice")):
            call = f"transfer({source!r}, {target!r}, 10)"
            first = len(database.statements)
            try:
                await bank.transfer(source, target, 10)
            except sqlite3.Error:
                pass
            else:
                fail(
                    f"{call} returned normally, although the database refused to change the "
                    "frozen account (a trigger raises 'the account is frozen').\n"
                    "Expected: the sqlite3.IntegrityError raised to the caller, nothing moved.\n"
                    "Likely mistake: catching the error without raising it again.\n"
                    "Try: roll back, then `raise`."
                )
            after_failure = await asyncio.to_thread(balances_in, path)
            if after_failure != ACCOUNTS:
                fail(
                    f"{call} failed halfway (the database refused to change 'frozen'), yet the "
                    f"file holds: {changes(ACCOUNTS, after_failure)}.\n"
                    f"{what_was_committed(database, first)}"
                    "Expected: both UPDATEs in ONE transaction, committed only once both "
                    "succeeded, rolled back otherwise.\n"
                    "Try: `try: ...both updates...; await db.commit()` and `except BaseException: "
                    "await db.rollback(); raise`."
                )
        still_open = None
        try:
            await bank.transfer("carol", "dave", 10)  # a good one after them
        except sqlite3.OperationalError as error:
            if "within a transaction" not in str(error):
                raise
            still_open = error
    if still_open is not None:
        fail(
            "transfer('carol', 'dave', 10), after two transfers the database refused halfway, "
            f"raised {still_open!r}: the failed transfers' transaction was still open.\n"
            "Likely mistake: no rollback after the error.\n"
            "Try: `except BaseException: await db.rollback(); raise`."
        )
    in_file = balances_in(path)
    expected = {**ACCOUNTS, "carol": 90, "dave": 110}
    if in_file == expected:
        return
    fail(
        "After two transfers the database refused halfway, transfer('carol', 'dave', 10) "
        f"left the file with {changes(ACCOUNTS, in_file)}; expected carol -10 and dave +10 only.\n"
        "Likely mistake: no rollback after the error: the half-done transfer stayed in the open "
        "transaction, and the next transfer's commit committed it too.\n"
        "Try: `except BaseException: await db.rollback(); raise`."
    )


def what_was_committed(database: Database, first: int) -> str:
    """How a refused transfer got half of it into the file, read from its statements."""
    refused = next(
        (s for s in database.statements[first:] if is_update(s.sql) and "'frozen'" in s.sql), None
    )
    if refused is None:
        return ""
    ran = database.since(first, refused.connection)
    in_transaction = False
    for sql in ran:
        word = sql.lstrip().split(" ", 1)[0].upper()
        if word == "BEGIN":
            in_transaction = True
        elif word in ("COMMIT", "END", "ROLLBACK"):
            in_transaction = False
        elif word == "UPDATE" and not in_transaction:
            return (
                f"`{sql}` ran with no transaction open (no BEGIN before it): it was committed "
                "on its own the moment it ran (autocommit), whatever came after.\n"
            )
    if any(is_commit(sql) for sql in ran[ran.index(refused.sql) + 1 :]):
        return (
            f"After the database refused `{refused.sql}`, the transaction was committed all "
            "the same: a commit in the error path (`finally: await db.commit()`?).\n"
        )
    return ""


async def test_unknown_accounts_and_missing_funds_are_refused(database: Database) -> None:
    path = database.path
    async with Bank(path) as bank:
        cases = [
            (("alice", "nobody", 10), UnknownAccount),
            (("nobody", "alice", 10), UnknownAccount),
            (("bob", "alice", 1000), InsufficientFunds),
        ]
        for args, error in cases:
            outcome: BaseException | None = None
            try:
                await bank.transfer(*args)
            except error:
                continue
            except Exception as other:
                outcome = other
            in_file = await asyncio.to_thread(balances_in, path)
            if outcome is not None:
                fail(f"transfer{args} raised {outcome!r}; expected {error.__name__}.")
            mistake = (
                "Nothing moved, but the caller was not told: catching the error without "
                "raising it again.\nTry: roll back, then `raise` it again."
                if in_file == ACCOUNTS
                else "Likely mistake: an UPDATE of a missing account changes no row and raises "
                "nothing, so the other half goes through alone.\n"
                "Try: read the source's balance first (None: no such account), and check "
                "`cursor.rowcount` after crediting the target; raise, and roll back."
            )
            fail(
                f"transfer{args} returned normally; expected {error.__name__}, and nothing "
                f"moved. The file now holds: {changes(ACCOUNTS, in_file)}.\n{mistake}"
            )
        try:
            found = await bank.balance("nobody")
        except UnknownAccount:
            found = None
    if found is not None:
        fail(f"balance('nobody') returned {found!r}; expected UnknownAccount.")
    in_file = balances_in(path)
    if in_file != ACCOUNTS:
        fail(
            f"After three refused transfers the file holds: {changes(ACCOUNTS, in_file)}; "
            "expected no change at all.\nTry: roll back whenever a transfer raises."
        )


async def test_a_transfer_of_the_whole_balance_goes_through(database: Database) -> None:
    call = "transfer('alice', 'bob', 100), alice holding exactly 100,"
    async with Bank(database.path) as bank:
        try:
            await bank.transfer("alice", "bob", 100)
        except InsufficientFunds as refused:
            fail(
                f"{call} raised {refused!r}: an amount equal to the balance was refused.\n"
                "Expected: alice 0 and bob 200; the funds are missing only when the balance is "
                "below the amount.\n"
                "Likely mistake: `balance <= amount` where `balance < amount` belongs.\n"
                "Try: raise InsufficientFunds only `if balance < amount`."
            )
    in_file = balances_in(database.path)
    if in_file != {**ACCOUNTS, "alice": 0, "bob": 200}:
        fail(
            f"After {call} the file holds: {changes(ACCOUNTS, in_file)}; expected alice 0 and "
            "bob 200."
        )


async def reached(gate: Gate, task: asyncio.Task[Any]) -> bool:
    """Wait until the gate holds its statement (True), or the task ended without it (False)."""
    holding = asyncio.create_task(gate.reached.wait())
    try:
        async with asyncio.timeout(scaled(2)):
            await asyncio.wait({holding, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        holding.cancel()
    return gate.reached.is_set()


async def cancel_at(
    database: Database, bank: Bank, matches: Callable[[str], bool]
) -> asyncio.Task[None] | None:
    """Start transfer('alice', 'bob', 10), cancel it while a statement that `matches` is held
    in the writer's thread, then let the statement go on. The transfer's task once it ended;
    None if it never ran such a statement."""
    gate = database.hold(matches)
    transfer = asyncio.create_task(bank.transfer("alice", "bob", 10))
    try:
        if await reached(gate, transfer):
            transfer.cancel()  # the await ends now; the statement still runs, in its thread
    finally:
        gate.release()
        await asyncio.wait({transfer})
        database.gate = None
    return transfer if gate.reached.is_set() else None


async def test_a_cancelled_transfer_rolls_back_and_the_next_one_works(database: Database) -> None:
    moments = [
        ("while its first UPDATE ran", is_update),
        ("while its BEGIN IMMEDIATE waited for SQLite's write lock", is_begin),
    ]
    async with Bank(database.path) as bank:
        for done, (moment, matches) in enumerate(moments):
            call = f"transfer('alice', 'bob', 10), cancelled {moment}"
            first = len(database.statements)
            cancelled = await cancel_at(database, bank, matches)
            if cancelled is None:
                continue  # it never ran such a statement: nothing to cancel there
            if not cancelled.cancelled():
                outcome = cancelled.exception() or f"returned {cancelled.result()!r}"
                fail(
                    f"{call}, did not end cancelled ({outcome!r}): the CancelledError was "
                    "swallowed, so its caller (a request handler, a shutdown) never learns it "
                    "stopped.\nTry: `except BaseException: await db.rollback(); raise`."
                )
            rolled_back = any("ROLLBACK" in s.sql.upper() for s in database.statements[first:])
            still_open: sqlite3.OperationalError | None = None
            try:
                await bank.transfer("carol", "dave", 10)
            except sqlite3.OperationalError as error:
                if "within a transaction" not in str(error):
                    raise
                still_open = error
            if still_open is not None:
                fail(
                    f"{call}; then transfer('carol', 'dave', 10) raised {still_open!r}: the "
                    "cancelled transfer's transaction was still open"
                    + ("" if rolled_back else ", and no ROLLBACK ever ran")
                    + ". Cancelling an `await` does not stop the statement, which still runs "
                    "in the connection's thread.\n"
                    + (
                        "A transfer cancelled halfway was rolled back (the test tried that "
                        "first), so the rollback handles a cancellation, but not this one: the "
                        "`await db.execute('BEGIN IMMEDIATE')` comes before the `try:` whose "
                        "except rolls back, so a cancellation that lands on it skips the "
                        "rollback.\nTry: put the BEGIN inside the try."
                        if done
                        else "The except clause that rolls back does not catch a cancellation: "
                        "`except Exception` misses CancelledError, a BaseException.\n"
                        "Try: `except BaseException: await db.rollback(); raise`."
                    )
                )
            in_file = await asyncio.to_thread(balances_in, database.path)
            expected = {**ACCOUNTS, "carol": 90 - 10 * done, "dave": 110 + 10 * done}
            if in_file != expected:
                fail(
                    f"{call}; then transfer('carol', 'dave', 10). The file holds "
                    f"{changes(ACCOUNTS, in_file)}; expected carol and dave changed only: the "
                    "cancelled transfer must leave nothing behind.\n"
                    "Try: `except BaseException: await db.rollback(); raise`, with the BEGIN "
                    "inside the try."
                )


async def test_the_funds_are_checked_inside_the_transfer_s_transaction(
    database: Database,
) -> None:
    # Two transfers of 60 out of alice's 100: only one can go through. The second is started
    # while the first has debited alice but not committed yet (its COMMIT held).
    async with Bank(database.path) as bank:
        gate = database.hold(is_commit)
        first = asyncio.create_task(bank.transfer("alice", "bob", 60))
        second: asyncio.Task[None] | None = None
        read_meanwhile = True
        try:
            halfway = await reached(gate, first)
            second = asyncio.create_task(bank.transfer("alice", "carol", 60))
            try:  # does the second read alice's balance while the first is halfway?
                async with asyncio.timeout(scaled(HOLD)):
                    await gate.other_read.wait()
            except TimeoutError:
                read_meanwhile = False
            read_meanwhile = read_meanwhile and halfway
        finally:
            gate.release()
            results = await asyncio.gather(first, *[second or first], return_exceptions=True)
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    other = [r for r in results if isinstance(r, BaseException) and r not in refused]
    if other:
        raise other[0]
    in_file = balances_in(database.path)
    if len(refused) == 1 and in_file["alice"] == 40:
        return
    # Both went through, yet alice shows a single debit: money made from nothing.
    overwritten = not refused and sum(in_file.values()) > sum(ACCOUNTS.values())
    fail(
        "transfer('alice', 'bob', 60) and transfer('alice', 'carol', 60), alice holding 100, "
        f"the second made while the first was halfway: {2 - len(refused)} went through, and "
        f"the file holds {changes(ACCOUNTS, in_file)}; expected one InsufficientFunds and "
        "alice at 40.\n"
        + (
            "Updates were lost: two debits of 60 went through, yet alice is down 60 only. "
            f"Each transfer wrote alice's new balance ({in_file['alice']}) computed from the "
            "100 it had read, so the second write overwrote the first one's debit.\n"
            "Try: let the database do the arithmetic (`SET balance = balance - ?`), and read "
            "and check the source's balance inside the transaction, under the lock: one "
            "transfer at a time."
            if overwritten
            else ""
        )
        + (
            "The second transfer read alice's balance on another connection while the first "
            "was halfway (debited, not yet committed): it saw the committed 100, and decided "
            "on it. It checked the funds outside the transfer's transaction and lock: by "
            "the time it debits, the balance it checked is gone.\n"
            if read_meanwhile and not overwritten
            else ""
        )
        + (
            ""
            if overwritten
            else "Try: take the lock, BEGIN, and only then read the source's balance on the "
            "writer connection: the check and both updates in one transaction, one transfer at "
            "a time."
        )
    )


async def test_a_failed_or_cancelled_read_gives_its_connection_back(database: Database) -> None:
    async with Bank(database.path, readers=2) as bank:
        steps = ["two reads of an unknown account (UnknownAccount)", "a cancelled read"]
        for step in steps:
            if step == steps[0]:
                for _ in range(2):
                    with suppress(UnknownAccount):
                        await bank.balance("nobody")
            else:
                gate = database.hold(is_select)
                read = asyncio.create_task(bank.balance("carol"))
                try:
                    async with asyncio.timeout(scaled(2)):
                        await gate.reached.wait()
                    read.cancel()
                finally:
                    gate.release()
                    await asyncio.wait({read})
                    database.gate = None
            try:
                async with asyncio.timeout(scaled(PATIENCE)):
                    await asyncio.gather(bank.balance("alice"), bank.balance("bob"))
            except TimeoutError:
                fail(
                    f"With readers=2, after {step}, two reads side by side had not answered "
                    f"after {PATIENCE} s: the connections of those reads never came back to "
                    "the pool, and every later read waits for one for ever.\n"
                    "Try: give the reader back in `finally:` (`self._idle.put_nowait(reader)`), "
                    "so an error or a cancellation returns it too."
                )


def twenty_transfers() -> list[tuple[str, str, int]]:
    """20 transfers between four accounts of 100; none can overdraw, whatever their order.

    The first two both take money out of alice: run at the same time, they race for it."""
    names = ["alice", "bob", "carol", "dave"]
    rng = random.Random(35)
    moves = [("alice", "bob", 1), ("alice", "carol", 2)]
    while len(moves) < 20:
        source, target = rng.sample(names, 2)
        moves.append((source, target, rng.randint(1, 3)))
    return moves


async def test_twenty_concurrent_transfers_lose_no_update(database: Database) -> None:
    moves = twenty_transfers()
    expected = dict(ACCOUNTS)
    for source, target, amount in moves:
        expected[source] -= amount
        expected[target] += amount
    async with Bank(database.path) as bank:
        results = await asyncio.gather(
            *(bank.transfer(*move) for move in moves), return_exceptions=True
        )
    errors = [
        (move, result)
        for move, result in zip(moves, results, strict=True)
        if isinstance(result, BaseException)
    ]
    if errors:
        (source, target, amount), error = errors[0]
        locked = "locked" in str(error)
        fail(
            f"{len(errors)} of 20 concurrent transfers raised; the first, transfer({source!r}, "
            f"{target!r}, {amount}), raised {error!r}.\n"
            + (
                "Likely mistake: several connections writing at once: SQLite has ONE write lock "
                "per file, and a connection that cannot get it fails with 'database is locked'.\n"
                if locked
                else ""
            )
            + "Expected: every transfer succeeds (none can overdraw).\n"
            "Try: do every transfer on the one writer connection, one at a time (an "
            "asyncio.Lock around the whole transaction)."
        )
    in_file = balances_in(database.path)
    if in_file == expected:
        return
    wrong = ", ".join(
        f"{name} {in_file[name]} (expected {expected[name]})"
        for name in expected
        if in_file[name] != expected[name]
    )
    fail(
        f"After 20 concurrent transfers the file holds {wrong}; money in all: "
        f"{sum(in_file.values())}, expected {sum(expected.values())}. Updates were lost.\n"
        "Likely mistake: read the balance, compute, then write the new value, with an await "
        "in between: two transfers read the same balance, and the second write overwrites the "
        "first.\n"
        "Try: let the database do the arithmetic (`SET balance = balance - ?`), inside one "
        "transaction, one transfer at a time (an asyncio.Lock around the read, the checks and "
        "both updates)."
    )


async def test_transfers_write_one_at_a_time_each_in_its_own_transaction(
    database: Database,
) -> None:
    async with Bank(database.path) as bank:
        gate = database.hold(is_update)  # the first UPDATE waits halfway through its transfer
        first = asyncio.create_task(bank.transfer("alice", "bob", 10))
        second = asyncio.create_task(bank.transfer("carol", "dave", 10))
        try:
            async with asyncio.timeout(scaled(2)):
                await gate.reached.wait()
            # While the first transfer is halfway, does another transaction begin beside it?
            try:
                async with asyncio.timeout(scaled(HOLD)):
                    await gate.company.wait()
            except TimeoutError:
                pass
        finally:
            gate.release()
            results = await asyncio.gather(first, second, return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    transactions = database.transactions()
    shared = [
        t
        for t in transactions
        if {"'alice'", "'carol'"} <= {word for s in t for word in s.sql.split()}
    ]
    if shared:
        fail(
            "Two transfers ran in ONE transaction: the statements of transfer('alice', 'bob', 10) "
            "and transfer('carol', 'dave', 10) went into the same transaction on connection "
            f"{shared[0][0].connection}:\n"
            + "\n".join(f"  {s.sql}" for s in shared[0])
            + "\nA commit (or a rollback) of one transfer then commits (or undoes) half of the "
            "other.\n"
            "Likely mistake: sharing the writer connection with no lock around each transfer.\n"
            "Try: `async with self._writing:` (one asyncio.Lock) around the whole transfer, from "
            "the first statement to the commit or rollback."
        )
    for one in transactions:
        for other in transactions:
            if (
                one[0].connection < other[0].connection
                and one[0].at < other[-1].at
                and other[0].at < one[-1].at
            ):
                fail(
                    f"Two write transactions were open at the same time, on connections "
                    f"{one[0].connection} and {other[0].connection}"
                    + (f", and a transfer raised {errors[0]!r}" if errors else "")
                    + ".\nSQLite has ONE write lock per database file: concurrent writers on "
                    "separate connections wait for each other, and fail with 'database is "
                    "locked' when one waits too long or would deadlock.\n"
                    "Expected: one transfer at a time, on one writer connection.\n"
                    "Try: open ONE writer connection in open(), and do every transfer on it, "
                    "inside one asyncio.Lock."
                )
    if errors:
        raise errors[0]


async def test_balance_answers_while_a_transfer_is_halfway(database: Database) -> None:
    async with Bank(database.path) as bank:
        gate = database.hold(is_update)
        transfer = asyncio.create_task(bank.transfer("alice", "bob", 10))
        waited = False
        try:
            async with asyncio.timeout(scaled(2)):
                await gate.reached.wait()
            try:
                async with asyncio.timeout(scaled(PATIENCE)):
                    found = await bank.balance("alice")
            except TimeoutError:
                waited = True
        finally:
            gate.release()
            await transfer
    if waited:
        fail(
            f"balance('alice') had not answered after {PATIENCE} s, while a transfer was halfway "
            "(its first UPDATE held in the writer connection): the read waited for the "
            "transfer.\n"
            "Likely mistake: balance() takes the transfers' lock, or reads on the writer "
            "connection: an aiosqlite connection runs one statement at a time, in its own "
            "thread, so a read queued there waits behind the transfer.\n"
            "Expected: the committed balance (100) at once.\n"
            "Try: read on reader connections of their own, without the writer's lock."
        )
    if found != 100:
        fail(
            f"balance('alice') returned {found} while a transfer of 10 out of alice was "
            "halfway; expected the committed balance, 100: the read saw the transfer's "
            "uncommitted update (it read on the writer connection, inside its transaction).\n"
            "Try: read on reader connections of their own."
        )


async def test_a_slow_read_does_not_hold_up_another_read(database: Database) -> None:
    async with Bank(database.path, readers=2) as bank:
        gate = database.hold(is_select)  # the first read takes long
        slow = asyncio.create_task(bank.balance("alice"))
        waited = False
        try:
            async with asyncio.timeout(scaled(2)):
                await gate.reached.wait()
            try:
                async with asyncio.timeout(scaled(PATIENCE)):
                    await bank.balance("bob")
            except TimeoutError:
                waited = True
        finally:
            gate.release()
            await slow
    if not waited:
        return
    fail(
        f"balance('bob') had not answered after {PATIENCE} s, while balance('alice') was still "
        "running its SELECT, with readers=2: the reads ran one at a time.\n"
        "Likely mistake: every read on the same connection (an aiosqlite connection runs one "
        "statement at a time, in its own thread), or a lock around every read.\n"
        "Expected: two reads side by side, one on each reader connection.\n"
        "Try: open `readers` reader connections and lend each read an idle one: an "
        "asyncio.Queue of them (`reader = await idle.get()` ... `idle.put_nowait(reader)`)."
    )


async def test_the_loop_stays_free_while_another_process_holds_the_database(
    database: Database, other_process: OtherProcess
) -> None:
    async with Bank(database.path) as bank:
        await other_process.lock_the_database()  # for HOLD seconds, as a backup job would
        await bank.transfer("alice", "bob", 10)  # waits for the lock, in the writer's thread
    in_file = balances_in(database.path)
    if in_file["alice"] == 90 and in_file["bob"] == 110:
        return
    fail(
        f"transfer('alice', 'bob', 10), made while another process held the database for "
        f"{HOLD} s, left the file with {changes(ACCOUNTS, in_file)}; expected alice -10, "
        "bob +10."
    )


async def test_close_closes_every_connection(database: Database) -> None:
    async with Bank(database.path, readers=2) as bank:
        await asyncio.gather(
            *(bank.balance(name) for name in ("alice", "bob", "carol", "dave") * 3),
            bank.transfer("alice", "bob", 1),
            bank.transfer("carol", "dave", 1),
        )
    opened, still_open = len(database.connections), database.open_connections()
    if opened > 3:
        fail(
            f"The Bank opened {opened} connections for 12 reads and 2 transfers with readers=2 "
            f"({len(still_open)} of them still open after close()); expected 3 (one writer, "
            "two readers), opened once in open().\n"
            "Likely mistake: a new connection per call: each costs a thread and a file open, "
            "one never closed keeps them for good, and writers on separate connections fight "
            "over SQLite's one write lock.\n"
            "Try: open the connections in open(), reuse them, close them all in close()."
        )
    if still_open:
        fail(
            f"After close(), {len(still_open)} of the {opened} connections the Bank opened "
            f"were still open (connections {still_open}, numbered in the order they were "
            "opened), each with its aiosqlite thread.\n"
            "Likely mistake: close() closes the writer but forgets the readers (or the other "
            "way round).\n"
            "Try: keep every connection open() opens in a list, and close them all."
        )


async def test_close_waits_for_the_transfer_in_flight(database: Database) -> None:
    bank = Bank(database.path)
    await bank.open()
    gate = database.hold(is_update)
    transfer = asyncio.create_task(bank.transfer("alice", "bob", 10))
    closing: asyncio.Task[None] | None = None
    try:
        if await reached(gate, transfer):
            closing = asyncio.create_task(bank.close())
            # A right close() waits for the transfer; a wrong one gets the time to close under it.
            await asyncio.wait({closing}, timeout=scaled(HOLD))
    finally:
        gate.release()
        await asyncio.wait({transfer, *([closing] if closing else [])})
        if closing is None:
            await bank.close()
    call = (
        "transfer('alice', 'bob', 10), halfway (its first UPDATE running) when close() was called"
    )
    in_file = balances_in(database.path)
    expected = {**ACCOUNTS, "alice": 90, "bob": 110}
    if transfer.cancelled() or transfer.exception() is not None:
        closed = not transfer.cancelled() and isinstance(
            transfer.exception(), ValueError | sqlite3.ProgrammingError
        )
        fail(
            f"{call}, {outcome(transfer)}"
            + (
                ": close() closed the writer connection under it, so its next statement found "
                "no connection (SQLite dropped its open transaction with the connection: "
                "nothing of it reached the file, but its caller was told it failed)"
                if closed and in_file == ACCOUNTS
                else f", and the file holds {changes(ACCOUNTS, in_file)}"
            )
            + ".\nExpected: close() waits for the transfer in flight to commit (or roll back), "
            "and only then closes the connections: the transfer returns, and the file holds "
            "alice 90 and bob 110.\n"
            "Try: take the transfers' lock in close(), `async with self._writing:` around "
            "closing the connections: it waits for the transfer that holds it."
        )
    if in_file != expected:
        fail(
            f"{call}, returned, but the file holds {changes(ACCOUNTS, in_file)}; expected "
            "alice -10 and bob +10: the transfer in flight finishes, and is committed, before "
            "close() closes the writer."
        )
    if closing is not None and outcome(closing) != "returned None":
        fail(f"{call}: the transfer went through, but close() {outcome(closing)}.")
    still_open = database.open_connections()
    if still_open:
        fail(
            f"{call}: the transfer went through, but after close() {len(still_open)} "
            f"connection(s) were still open (connections {still_open}): close() closes every "
            "one, also when it had to wait for a transfer first."
        )


def create_bank(path: Path) -> None:
    with closing(CONNECT(path)) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO accounts VALUES (?, ?)", ACCOUNTS.items())
        db.commit()


def balances_in(path: Path) -> dict[str, int]:
    """What the database FILE holds (committed data only), read with the stdlib sqlite3."""
    with closing(CONNECT(path, timeout=scaled(2))) as db:
        return dict(db.execute("SELECT name, balance FROM accounts ORDER BY name").fetchall())


def changes(before: dict[str, int], after: dict[str, int]) -> str:
    moved = [
        f"{name} {after[name] - before[name]:+d}" for name in before if after[name] != before[name]
    ]
    total = sum(after.values()) - sum(before.values())
    return (", ".join(moved) or "no balance changed") + (
        f" (money {total:+d} in all)" if total else ""
    )


@dataclass
class Statement:
    at: float
    connection: int  # connections are numbered 1, 2, ... in the order they were opened
    sql: str


@dataclass
class Gate:
    """Holds the first statement that `matches`, in its connection's thread, until released."""

    matches: Callable[[str], bool]
    loop: asyncio.AbstractEventLoop
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    company: asyncio.Event = field(default_factory=asyncio.Event)  # another transaction began
    other_read: asyncio.Event = field(default_factory=asyncio.Event)  # a read done elsewhere
    connection: int = 0  # the connection it holds (0: none yet)
    _open: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self._open.set()


class Database:
    """Watches every SQLite connection the code under test opens, as a server would.

    sqlite3.connect (which aiosqlite calls in its connection threads) is replaced by one that
    opens a real connection reporting each statement it runs (with its parameters) and its
    close(). A Gate can hold one statement inside the code's transaction, in the connection's
    own thread, so the test controls exactly when a transfer is halfway.
    """

    def __init__(self, path: Path, timeline: Timeline, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = path
        self.timeline = timeline
        self.statements: list[Statement] = []
        self.connections: list[Watched] = []
        self.proxies: list[aiosqlite.Connection] = []
        self.gate: Gate | None = None
        self._last: dict[int, Statement] = {}  # the last statement of each connection
        self._lock = threading.Lock()
        Watched.database = self
        monkeypatch.setattr(sqlite3, "connect", functools.partial(CONNECT, factory=Watched))
        proxy_init = aiosqlite.Connection.__init__

        def init(proxy: aiosqlite.Connection, *args: Any, **kwargs: Any) -> None:
            proxy_init(proxy, *args, **kwargs)
            self.proxies.append(proxy)

        monkeypatch.setattr(aiosqlite.Connection, "__init__", init)

    def opened(self, connection: Watched) -> int:
        with self._lock:
            self.connections.append(connection)
            return len(self.connections)

    def ran(self, number: int, sql: str) -> None:
        """A statement starts on connection `number` (called in that connection's thread)."""
        with self._lock:
            last = self._last.get(number)
            if last is not None and last.sql == sql:
                return  # the same statement reported again (SQLite traces each step)
            self._last[number] = Statement(self.timeline.now(), number, sql)
            self.statements.append(self._last[number])
            gate = self.gate
            if gate is None:
                return
            held = gate.connection
            if not held and gate.matches(sql):
                gate.connection = number
        if held:
            if number != held and starts_a_transaction(sql):
                gate.loop.call_soon_threadsafe(gate.company.set)
        elif gate.connection == number:
            gate.loop.call_soon_threadsafe(gate.reached.set)
            gate._open.wait(timeout=scaled(2))  # never forever, whatever the test does

    def fetched(self, number: int) -> None:
        """Rows were fetched on connection `number` (in its thread): a read is done."""
        gate = self.gate
        if gate is not None and gate.connection and gate.connection != number:
            gate.loop.call_soon_threadsafe(gate.other_read.set)

    def since(self, first: int, connection: int) -> list[str]:
        """The statements of `connection` from statements[first] on."""
        return [s.sql for s in self.statements[first:] if s.connection == connection]

    def hold(self, matches: Callable[[str], bool]) -> Gate:
        self.gate = Gate(matches, asyncio.get_running_loop())
        return self.gate

    def open_connections(self) -> list[int]:
        return [n for n, c in enumerate(self.connections, 1) if not c.closed]

    def transactions(self) -> list[list[Statement]]:
        """The statements of each transaction, per connection, in the order they began."""
        found: list[list[Statement]] = []
        current: dict[int, list[Statement]] = {}
        for statement in self.statements:
            word = statement.sql.lstrip().split(" ", 1)[0].upper()
            if word == "BEGIN":
                current[statement.connection] = [statement]
                found.append(current[statement.connection])
            elif statement.connection in current:
                current[statement.connection].append(statement)
                if word in ("COMMIT", "END", "ROLLBACK"):
                    del current[statement.connection]
            elif word in ("UPDATE", "INSERT", "DELETE"):
                found.append([statement])  # autocommit: a transaction of its own
        return found

    def close(self) -> None:
        if self.gate is not None:
            self.gate.release()
        for proxy in self.proxies:  # a connection the code left open: stop its thread
            if proxy._thread.is_alive():
                proxy.stop()
                proxy._thread.join(timeout=scaled(2))


class Watched(sqlite3.Connection):
    """A real sqlite3 connection that reports every statement it runs, and its close()."""

    database: Database

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = False
        self.number = self.database.opened(self)
        self.set_trace_callback(functools.partial(self.database.ran, self.number))

    def close(self) -> None:
        self.closed = True
        super().close()

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or WatchedCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)  # what sqlite3 does, with our cursor


class WatchedCursor(sqlite3.Cursor):
    """A cursor that reports when its rows were fetched: the read is done."""

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        finally:
            self.connection.database.fetched(self.connection.number)  # type: ignore[attr-defined]

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        finally:
            self.connection.database.fetched(self.connection.number)  # type: ignore[attr-defined]


def starts_a_transaction(sql: str) -> bool:
    return sql.lstrip().split(" ", 1)[0].upper() in ("BEGIN", "UPDATE", "INSERT", "DELETE")


def is_begin(sql: str) -> bool:
    return sql.lstrip().upper().startswith("BEGIN")


def is_commit(sql: str) -> bool:
    return sql.lstrip().upper().startswith("COMMIT")


def is_update(sql: str) -> bool:
    return sql.lstrip().upper().startswith("UPDATE")


def is_select(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT")


@pytest.fixture
def database(
    tmp_path: Path, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    """A bank's database file in tmp_path; every connection to it is watched."""
    path = tmp_path / "bank.db"
    create_bank(path)
    watched = Database(path, timeline, monkeypatch)
    yield watched
    watched.close()


class OtherProcess:
    """Another program using the same database file: it holds SQLite's write lock for a while
    (BEGIN IMMEDIATE ... ROLLBACK), from a thread of its own, started before the test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._orders: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Event] | None]
        self._orders = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="other process")
        self._thread.start()

    async def lock_the_database(self) -> None:
        """Return once the other process holds the write lock (for HOLD seconds)."""
        locked = asyncio.Event()
        self._orders.put((asyncio.get_running_loop(), locked))
        await locked.wait()

    def _run(self) -> None:
        while (order := self._orders.get()) is not None:
            loop, locked = order
            with closing(CONNECT(self.path, isolation_level=None)) as db:
                db.execute("BEGIN IMMEDIATE")
                loop.call_soon_threadsafe(locked.set)
                threading.Event().wait(scaled(HOLD))
                db.execute("ROLLBACK")

    def stop(self) -> None:
        self._orders.put(None)
        self._thread.join(timeout=scaled(2))


@pytest.fixture
def other_process(database: Database) -> Iterator[OtherProcess]:
    other = OtherProcess(database.path)
    yield other
    other.stop()
