from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import time
from typing import Any

import lock
import pytest
from harness import Timeline, cancel_midway, fail, scaled, started_tasks, swap_in

pytestmark = pytest.mark.timeout(2)

OPENING = 100  # what the account holds before the test's deposits
AMOUNTS = (10, 20, 30, 40, 50)  # five deposits at once: 100 + 150 = 250
RECEIPT = 0.1  # seconds a receipt takes: five sent one after another cost 0.5 s, not 0.1 s
SLOW_STORE = 0.1  # seconds a read and a write take in the polling test: deposits wait 0.8 s
PATIENCE = 0.5  # seconds a deposit that nothing holds back gets to read (it needs a few turns)
FIX = (
    "Try: give the account ONE asyncio.Lock, created in __init__, and hold it from the read to "
    "the write:\n"
    "    async with self._lock:\n"
    "        balance = await self.store.read()\n"
    "        await self.store.write(balance + amount)"
)
THREAD_LOCK = type(threading.Lock())
ASYNCIO_LOCK = asyncio.Lock  # lock.py sees a watched subclass in its place


async def test_a_deposit_returns_the_new_balance_once_its_receipt_is_sent(
    bank: Bank, timeline: Timeline
) -> None:
    [balance] = await bank.deposit_all((10,))
    call = f"deposit(10) on an account holding {OPENING}"
    if balance != 110 or bank.balance != 110:
        fail(
            f"{call} returned {balance!r} and left {bank.balance} in the store; expected 110 "
            f"for both.\nWhat the store saw:\n{bank.history()}\n"
            "Try: balance = await self.store.read(), then await self.store.write(balance + "
            "amount), and return balance + amount."
        )
    if bank.receipts == [(10, 110)]:
        return
    receipt = timeline.find("send_receipt(10, 110)")
    if receipt is not None and receipt.end is None:
        mistake = (
            "it returned before its receipt was sent: send_receipt(10, 110) was still "
            "running.\nLikely mistake: the receipt sent in a background task "
            "(asyncio.create_task) that deposit() does not wait for.\n"
            "Try: `await self.send_receipt(amount, new_balance)` before you return."
        )
    elif not timeline.spans:
        mistake = (
            "it never called send_receipt.\n"
            "Try: `await self.send_receipt(amount, new_balance)` once the balance is written."
        )
    else:
        mistake = (
            f"it called {', '.join(timeline.started)}; expected send_receipt(10, 110): the "
            "amount, then the balance after the deposit."
        )
    fail(f"{call}: {mistake}\n\n{timeline.draw()}")


async def test_every_deposit_reads_the_balance_from_the_store(bank: Bank) -> None:
    [first] = await bank.deposit_all((10,))
    bank.balance = 500  # something else changed the stored balance meanwhile
    bank.log.append("(something else) wrote 500")
    bank.held.append(False)
    [balance] = await bank.deposit_all((20,))
    if balance == bank.balance == 520:
        return
    stale = (
        f"Likely mistake: the balance it used, {first}, was kept on the account from the "
        "previous deposit instead of read again.\n"
        if balance == first + 20
        else ""
    )
    fail(
        f"deposit(10) on an account holding {OPENING}, then the stored balance set to 500 by "
        f"something else, then deposit(20): it returned {balance!r} and left {bank.balance} in "
        "the store; expected 520 for both.\n"
        f"What the store saw, in order:\n{bank.history()}\n{stale}"
        "Expected: every deposit reads the balance from the store (another service, or another "
        "Account object, may have changed it since).\n"
        "Try: `balance = await self.store.read()` in every deposit, inside the lock; keep no "
        "copy of the balance on the account."
    )


async def test_five_deposits_at_once_lose_no_update(bank: Bank, watch: Watch) -> None:
    await bank.deposit_all()
    expected = OPENING + sum(AMOUNTS)
    if bank.balance == expected:
        return
    call = (
        f"{len(AMOUNTS)} deposits at once ({', '.join(map(str, AMOUNTS))}) into an account "
        f"holding {OPENING}"
    )
    if not any(" read " in line for line in bank.log):
        fail(
            f"{call} left {bank.balance} in the store; expected {expected}. deposit() never "
            f"read the balance from the store, so it cannot know what the account held.\n"
            f"What the store saw:\n{bank.history()}\n{FIX}"
        )
    if not bank.writes or bank.balance > expected:
        fail(
            f"{call} left {bank.balance} in the store; expected {expected}: "
            + ("deposit() never wrote the new balance." if not bank.writes else "too much.")
            + f"\nWhat the store saw, in order:\n{bank.history()}\n"
            "Expected: each deposit reads the balance once and writes balance + amount once."
        )
    first_write = next(i for i, line in enumerate(bank.log) if " wrote " in line)
    together = sum(" read " in line for line in bank.log[:first_write])
    reads_held = [h for line, h in zip(bank.log, bank.held, strict=True) if " read " in line]
    writes_held = [h for line, h in zip(bank.log, bank.held, strict=True) if " wrote " in line]
    if together > 1:
        what = (
            f"{together} deposits read the balance before the first one had written its new "
            "balance: nothing held them back."
        )
        if watch.locks_made_by_deposits() > 1:
            mistake = (
                f"Likely mistake: each deposit made an asyncio.Lock of its own "
                f"({watch.locks_made_by_deposits()} locks for {len(AMOUNTS)} deposits): a lock "
                "created inside deposit() is new and free every call, so no deposit ever waits."
            )
        elif all(writes_held) and not any(reads_held):
            mistake = (
                "Likely mistake: every write held the lock, but no read did: a lock around the "
                "write alone. The read must be inside it too: a balance read outside the lock "
                "is stale by the time you write."
            )
        elif not watch.locks and not any(isinstance(v, ASYNCIO_LOCK) for v in _reachable(bank)):
            mistake = (
                "Likely mistake: no lock around the read and the write: every `await` between "
                "them lets the other deposits in."
            )
        else:
            mistake = "No deposit held a lock from its read to its write."
    else:
        what = (
            "The first deposit ran alone, but after it several deposits read the balance at "
            "once: whatever held them back let them all go together."
        )
        events = [v for v in _reachable(bank) if isinstance(v, asyncio.Event)]
        mistake = (
            "Likely mistake: an asyncio.Event used as a lock: set() wakes every waiting "
            "deposit at once, and they all read the same balance. A Lock lets exactly one in "
            "at a time."
            if events
            else "A Lock lets exactly one waiting deposit in at a time."
        )
    fail(
        f"{call} left {bank.balance} in the store; expected {expected}: "
        f"{expected - bank.balance} went missing.\n"
        f"What the store saw, in order:\n{bank.history()}\n"
        f"{what} Each then wrote the balance IT had read + its amount over the others' updates: "
        f"lost updates.\n{mistake}\n{FIX}"
    )


def _reachable(bank: Bank) -> list[object]:
    """What the account can reach besides the store: its attributes, its class's, its module's."""
    return [*vars(bank.account).values(), *vars(type(bank.account)).values(), *vars(lock).values()]


async def test_deposits_on_two_accounts_do_not_wait_for_each_other(
    timeline: Timeline, watch: Watch
) -> None:
    first, second = Bank(timeline, watch), Bank(timeline, watch)
    second.everyone_arrived.set()  # the second store answers at once
    holding = asyncio.create_task(first.account.deposit(10), name="deposit(10)")
    reading = asyncio.create_task(first.read_asked.wait())
    await asyncio.wait({holding, reading}, return_when="FIRST_COMPLETED")
    if holding.done():  # deposit(10) failed before it read: the stub, say
        reading.cancel()
        holding.result()
    # deposit(10) is now between its read and its write (its store answers once told to)
    other = asyncio.create_task(second.account.deposit(20), name="deposit(20)")
    asked = asyncio.create_task(second.read_asked.wait())
    await asyncio.wait({other, asked}, timeout=scaled(PATIENCE), return_when="FIRST_COMPLETED")
    went_on = second.read_asked.is_set()
    first.everyone_arrived.set()
    done, _ = await asyncio.wait({holding, other}, timeout=scaled(PATIENCE))
    for task in (holding, other, asked, reading):
        task.cancel()
    await asyncio.gather(holding, other, asked, reading, return_exceptions=True)
    error = other.exception() if other in done and not other.cancelled() else None
    if isinstance(error, NotImplementedError):
        raise error
    if went_on and not isinstance(error, RuntimeError):
        return
    seen = (
        f"deposit(20) raised RuntimeError: {error}: the lock it waited for was made before "
        "this test began (an earlier test's event loop had used it), not by account B's "
        "__init__"
        if isinstance(error, RuntimeError)
        else f"deposit(20) on account B did not even read B's balance within "
        f"{scaled(PATIENCE):.1f} s: it waited for account A's deposit"
    )
    home = shared_lock_home(first.account)
    fail(
        "deposit(10) on account A was between its read and its write (its store was slow to "
        f"answer) when deposit(20) on account B began, and {seen}.\n"
        + (
            f"Likely mistake: one lock shared by every account{home}. Deposits on "
            "different accounts never touch the same balance, yet each waits for all the "
            "others, bank-wide.\n"
            if home
            else "The two accounts share whatever holds a deposit back.\n"
        )
        + "Expected: each account its own lock; deposits on different accounts run together.\n"
        "Try: create the lock in __init__ (`self._lock = asyncio.Lock()`), once per account."
    )


async def test_each_deposit_returns_and_receipts_the_balance_its_own_update_left(
    bank: Bank, timeline: Timeline
) -> None:
    results = await bank.deposit_all()
    expected = OPENING + sum(AMOUNTS)
    call = f"{len(AMOUNTS)} deposits at once into an account holding {OPENING}"
    if bank.balance != expected:
        fail(
            f"{call} left {bank.balance} in the store, not {expected}: updates were lost, so "
            "the deposits cannot report their balances. Make "
            "test_five_deposits_at_once_lose_no_update pass first."
        )
    returned = dict(zip(AMOUNTS, results, strict=True))
    history = [OPENING, *bank.writes]
    left = {after - before: after for before, after in itertools.pairwise(history)}
    if returned != left:
        fail(
            f"{call} returned {returned} (amount: balance returned), but the balance went "
            f"{' -> '.join(map(str, history))}, so each deposit's own write left {left}.\n"
            "Expected: each deposit returns balance + amount, the balance it wrote itself.\n"
            "Likely mistake: returning the balance it read instead of the new one, or reading "
            "the balance again after the lock was released (another deposit may have changed "
            "it by then).\n"
            "Try: new_balance = balance + amount inside the lock; write it, then return it."
        )
    sent, wanted = sorted(bank.receipts), sorted(left.items())
    if sent != wanted:
        fail(
            f"{call} sent the receipts {sent} (amount, balance); expected one per deposit, "
            f"with its amount and the balance it returned: {wanted}.\n"
            "Try: `await self.send_receipt(amount, new_balance)` once per deposit, after the "
            f"write, and return only then.\n\n{timeline.draw()}"
        )


async def test_a_deposit_waits_for_the_lock_without_polling(
    timeline: Timeline, watch: Watch
) -> None:
    bank = Bank(timeline, watch, slow=SLOW_STORE)  # the last deposit waits 4 x 0.2 s
    with started_tasks(count_wakeups=True) as started:
        await bank.deposit_all()
    # A deposit wakes once for the lock, five times in the store and the receipt, and up to
    # twice more per timed call (read, write, receipt) under stress jitter: 1 + 5 + 3 x 2.
    started.expect_no_polling(
        most=12,
        what=f"{len(AMOUNTS)} deposits on one account whose store takes {SLOW_STORE} s to read",
        wait_on="the account's asyncio.Lock (`async with self._lock:`)",
        timeline=timeline,
    )


async def test_receipts_are_sent_outside_the_lock_so_they_overlap(
    bank: Bank, timeline: Timeline
) -> None:
    await bank.deposit_all()
    if timeline.peak > 1:
        return
    if not timeline.spans:
        fail(
            f"{len(AMOUNTS)} deposits at once sent no receipt at all.\n"
            "Try: `await self.send_receipt(amount, new_balance)` once the balance is written."
        )
    fail(
        f"{len(AMOUNTS)} deposits at once sent their receipts one after another: never more "
        "than one receipt in flight, although a receipt does not touch the balance.\n"
        "Expected: the receipts in flight together; only the read and the write of the balance "
        "wait for the lock.\n"
        "Likely mistake: sending the receipt inside `async with self._lock:` (the lock held "
        "around the whole deposit): each deposit then waits for the previous one's 0.1 s "
        "receipt too.\n"
        "Try: keep only the read and the write inside `async with self._lock:`, and await "
        f"send_receipt(...) after that block.\n\n{timeline.draw()}"
    )


async def test_five_deposits_with_slow_receipts_take_about_one_receipt(
    bank: Bank, timeline: Timeline
) -> None:
    with timeline.expect_duration(
        RECEIPT,
        delays=(RECEIPT,) * len(AMOUNTS),
        what=f"{len(AMOUNTS)} deposits at once, each sending a 0.1 s receipt,",
        advice="hold the lock only around the read and the write of the balance and send the "
        "receipt after `async with self._lock:` ends: the receipts then go out together, "
        f"about 0.1 s in all, not {len(AMOUNTS)} x 0.1 s.",
        too_early="each deposit awaits its receipt before it returns.",
    ):
        await bank.deposit_all()


async def test_a_deposit_cancelled_midway_gives_the_lock_back(
    timeline: Timeline, watch: Watch
) -> None:
    bank = Bank(timeline, watch)
    await bank.deposit_all((10,))  # a deposit that works (the stub fails here)
    bank.account.store = Bank(timeline, watch)  # its read never answers: deposit(20) waits
    await cancel_midway(
        bank.account.deposit(20),
        after=0.05,
        what="deposit(20), waiting for its read,",
        timeline=timeline,
    )
    bank.account.store = bank
    after = asyncio.create_task(bank.account.deposit(30), name="deposit(30)")
    done, _ = await asyncio.wait({after}, timeout=scaled(PATIENCE))
    if after in done:
        after.result()
        return
    after.cancel()
    await asyncio.wait({after})
    held = [made.owner for made in watch.locks if made.locked() and made.owner is not None]
    who = ", still held by the cancelled deposit(20)" if any(t.done() for t in held) else ""
    fail(
        "deposit(20) was cancelled while it waited for its read (a timeout, a client that "
        f"hung up), and deposit(30) on the same account then waited {scaled(PATIENCE):.1f} s "
        f"without reading the balance: the lock was never given back{who}.\n"
        "Expected: a cancelled deposit releases the lock on its way out; the next one goes on.\n"
        "Try: `async with self._lock:` releases the lock however the block is left (a cancel "
        "too); an `await lock.acquire()` needs its `lock.release()` in `finally:`."
    )


async def test_a_deposit_whose_store_fails_raises_and_gives_the_lock_back(
    timeline: Timeline, watch: Watch
) -> None:
    bank = Bank(timeline, watch)
    await bank.deposit_all((10,))  # a deposit that works (the stub fails here)
    broken = bank.broken = ConnectionError("the database went away")  # deposit(20)'s write
    failed = asyncio.create_task(bank.account.deposit(20), name="deposit(20)")
    await asyncio.wait({failed}, timeout=scaled(PATIENCE))
    bank.broken = None
    if not failed.done():
        failed.cancel()
        await asyncio.wait({failed})
        fail(
            f"deposit(20), whose write raises {broken!r}, was still running "
            f"{scaled(PATIENCE):.1f} s later.\nWhat the store saw, in order:\n{bank.history()}\n"
            "Expected: the store's error goes on up to the caller of deposit(), at once."
        )
    error = failed.exception()
    if error is None:
        fail(
            f"deposit(20) returned {failed.result()!r} although its write raised {broken!r}: "
            "the error was swallowed, and its caller believes the money is in.\n"
            f"What the store saw, in order:\n{bank.history()}\n"
            "Expected: the store's error goes on up to the caller of deposit().\n"
            "Try: catch nothing around the read and the write; `async with self._lock:` gives "
            "the lock back and lets the error through."
        )
    if error is not broken:
        raise error
    after = asyncio.create_task(bank.account.deposit(30), name="deposit(30)")
    done, _ = await asyncio.wait({after}, timeout=scaled(PATIENCE))
    if after in done:
        after.result()
        return
    after.cancel()
    await asyncio.wait({after})
    held = [made.owner for made in watch.locks if made.locked() and made.owner is not None]
    who = (
        ": the lock was still held by deposit(20), which had ended with that error. Its way "
        "out through the store's error skipped the release"
        if failed in held
        else ""
    )
    fail(
        f"The write of deposit(20) raised {broken!r}, and deposit(20) passed it on, as it "
        f"should. Then deposit(30) on the same account waited {scaled(PATIENCE):.1f} s "
        f"without reading the balance{who}.\n"
        f"What the store saw, in order:\n{bank.history()}\n"
        "Expected: a deposit gives the lock back however it ends (returned, cancelled, or "
        "raising the store's error); the next one goes on.\n"
        "Try: `async with self._lock:` releases the lock on every way out of the block; an "
        "`await lock.acquire()` needs its `lock.release()` in `finally:`, not in an `except` "
        "for one kind of error."
    )


def _who() -> str:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no loop running yet: the test is setting up
        return "the test"
    return task.get_name() if task else "?"


def _inside_deposit() -> bool:
    """Called from a deposit() of the kata's module: read from the stack, not from the task's
    name (eager tasks run their first step before create_task names them)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "deposit" and frame.f_code.co_filename == lock.__file__:
            return True
        frame = frame.f_back
    return False


class FrozeTheLoop(Exception):
    """A deposit made a call that blocks the event loop's thread; the test refused it."""


class Watch:
    """What the deposits do besides the store: the asyncio.Locks they make and hold, and the
    calls that would freeze the loop (time.sleep, a threading.Lock taken while another task
    holds it), which are refused at once so the test can name them instead of hanging."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.locks: list[Any] = []  # every asyncio.Lock made while the test ran
        self.froze = ""  # the call that would have frozen the loop
        watch, original, real_sleep = self, ASYNCIO_LOCK, time.sleep
        loop_thread = threading.get_ident()

        class Lock(original):  # type: ignore[valid-type, misc]
            def __init__(self) -> None:
                super().__init__()
                self.made_by = _who()
                self.made_in_deposit = _inside_deposit()
                self.owner: asyncio.Task[Any] | None = None
                watch.locks.append(self)

            async def acquire(self) -> bool:
                await super().acquire()
                self.owner = asyncio.current_task()
                return True

            def release(self) -> None:
                self.owner = None
                super().release()

        def sleep(seconds: float) -> None:
            if threading.get_ident() != loop_thread:
                return real_sleep(seconds)
            self.refuse(
                f"{_who()} called time.sleep({seconds!r}). time.sleep() blocks the whole thread, "
                "and the event loop runs in it: while it sleeps no other task runs, so the "
                "deposit it waits for can never finish, and the loop is frozen for good."
            )

        swap_in(monkeypatch, lock, asyncio, Lock=Lock)
        swap_in(monkeypatch, lock, time, sleep=sleep)

    def refuse(self, what: str) -> None:
        self.froze = self.froze or what
        raise FrozeTheLoop(what)

    def watch_thread_locks(self, account: object) -> None:
        """Put a watched stand-in in place of each threading.Lock the account can reach."""
        places: list[tuple[object, str]] = [(account, "self."), (type(account), "Account.")]
        places.append((lock, ""))
        for place, prefix in places:
            for name, value in list(vars(place).items()):
                if isinstance(value, THREAD_LOCK):
                    stand_in = WatchedThreadLock(self, value, f"{prefix}{name}")
                    if place is account:
                        setattr(account, name, stand_in)
                    else:
                        self.monkeypatch.setattr(place, name, stand_in)

    def lock_held(self) -> bool:
        """The current task holds one of the asyncio.Locks made during the test."""
        return any(made.owner is asyncio.current_task() for made in self.locks)

    def locks_made_by_deposits(self) -> int:
        return sum(made.made_in_deposit for made in self.locks)


class WatchedThreadLock:
    """A threading.Lock that refuses to block: taken while held, it would freeze the loop."""

    def __init__(self, watch: Watch, inner: Any, name: str) -> None:
        self.watch, self.inner, self.name = watch, inner, name
        self.holder = ""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.inner.acquire(blocking=False):
            self.holder = _who()
            return True
        if not blocking:
            return False
        self.watch.refuse(
            f"{_who()} asked for the threading.Lock `{self.name}` while {self.holder} held it "
            "across an `await`. A threading.Lock makes the whole thread wait, and the event loop "
            f"runs in that thread: {self.holder} could never be resumed to release it, and the "
            "loop would be frozen for good."
        )
        return False

    def release(self) -> None:
        self.holder = ""
        self.inner.release()

    def locked(self) -> bool:
        return bool(self.inner.locked())

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class Bank:
    """The fake store holding the balance and the fake receipt service, both watched.

    A read answers with the balance as it was when asked, but only once every deposit of the
    test has begun (a busy database): deposits that nothing holds back all read the same
    balance, every time. The race is forced, not left to luck. With `slow`, a read and a write
    also take that long (drawn on the timeline), so a deposit waits a while for the lock.
    """

    def __init__(self, timeline: Timeline, watch: Watch, slow: float = 0.0) -> None:
        self.timeline = timeline
        self.watch = watch
        self.slow = slow
        self.balance = OPENING
        self.log: list[str] = []  # what the store saw, in order: "deposit(20) read 100"
        self.held: list[bool] = []  # for each line of the log: the deposit held a lock then
        self.writes: list[int] = []
        self.broken: Exception | None = None  # what a write raises, if anything
        self.receipts: list[tuple[int, int]] = []  # (amount, balance) of every receipt SENT
        self.everyone_arrived = asyncio.Event()
        self.read_asked = asyncio.Event()
        self.account = lock.Account(self, self.send_receipt)
        watch.watch_thread_locks(self.account)

    async def read(self) -> int:
        balance = self.balance  # the balance as it is when asked...
        self._note(f"read {balance}")
        self.read_asked.set()
        await self.everyone_arrived.wait()  # ...answered once every deposit has begun
        if self.slow:
            await self.timeline.work(f"{_who()} reads", self.slow)
        await asyncio.sleep(0)
        return balance

    async def write(self, balance: int) -> None:
        if self.slow:
            await self.timeline.work(f"{_who()} writes", self.slow)
        await asyncio.sleep(0)
        if self.broken is not None:
            self._note(f"failed to write {balance}: {self.broken!r}")
            raise self.broken
        self.balance = balance
        self.writes.append(balance)
        self._note(f"wrote {balance}")

    def _note(self, what: str) -> None:
        self.log.append(f"{_who()} {what}")
        self.held.append(self.watch.lock_held())

    async def send_receipt(self, amount: int, balance: int) -> None:
        await self.timeline.work(f"send_receipt({amount}, {balance})", RECEIPT)
        self.receipts.append((amount, balance))

    def history(self) -> str:
        return "\n".join(f"  {line}" for line in self.log) or "  (nothing: no read, no write)"

    async def deposit_all(self, amounts: tuple[int, ...] = AMOUNTS) -> list[int]:
        """One deposit per amount on one account, each in its task, arriving a loop turn apart."""
        tasks = []
        for amount in amounts:
            deposit = self.account.deposit(amount)
            tasks.append(asyncio.create_task(deposit, name=f"deposit({amount})"))
            turn = time.perf_counter()
            await asyncio.sleep(0)  # it begins before the next one arrives
            if self.watch.froze:
                await self.stop(tasks)
                self.fail_frozen()
            # A loop frozen by something else is unfrozen by pytest-timeout once: stop before
            # the next deposit can freeze it again.
            if time.perf_counter() - turn > scaled(1.0):
                fail(
                    f"deposit({amount}) froze the event loop: no other task ran for "
                    f"{time.perf_counter() - turn:.2f} s.\nExpected: a deposit that must wait "
                    f"awaits, so the loop runs the others meanwhile.\n{FIX}"
                )
        self.everyone_arrived.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, RuntimeError) and "different event loop" in str(result):
                self.fail_shared_lock(result)
            if isinstance(result, BaseException):
                raise result
        if self.watch.froze:
            self.fail_frozen()
        return [r for r in results if isinstance(r, int)]

    async def stop(self, tasks: list[asyncio.Task[int]]) -> None:
        self.everyone_arrived.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def fail_frozen(self) -> None:
        __tracebackhide__ = True
        fail(
            f"{len(AMOUNTS)} deposits at once on one account: {self.watch.froze} (This test "
            "refused the call, so that you read this instead of a hang.)\n"
            f"What the store saw, in order:\n{self.history()}\n"
            "Expected: a deposit that must wait for another one awaits (asyncio.Lock), so the "
            f"loop runs the others meanwhile.\n{FIX}"
        )

    def fail_shared_lock(self, error: RuntimeError) -> None:
        __tracebackhide__ = True
        fail(
            f"A deposit raised RuntimeError: {error}.\n"
            f"An asyncio.Lock belongs to the event loop that first made a task wait on it. "
            f"This one was made before this test's loop existed{shared_lock_home(self.account)}, "
            "and an earlier test's loop had used it. Every test (and every asyncio.run()) has "
            "a loop of its own.\n"
            "Make test_deposits_on_two_accounts_do_not_wait_for_each_other pass first.\n"
            f"{FIX}"
        )


def shared_lock_home(account: object) -> str:
    """Where a lock shared by every account lives, as a clause: ' (in the class body ...)'."""
    for name, value in vars(type(account)).items():
        if isinstance(value, ASYNCIO_LOCK):
            return f": `{name} = asyncio.Lock()` in the class body, made once, at import"
    for name, value in vars(lock).items():
        if isinstance(value, ASYNCIO_LOCK):
            return f": `{name} = asyncio.Lock()` at module level, made once, at import"
    return ""


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    return Watch(monkeypatch)


@pytest.fixture
def bank(timeline: Timeline, watch: Watch) -> Bank:
    return Bank(timeline, watch)
