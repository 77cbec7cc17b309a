import asyncio
import itertools
import time

import lock
import pytest
from harness import Timeline, scaled

pytestmark = pytest.mark.timeout(2)

OPENING = 100  # what the account holds before the test's deposits
AMOUNTS = (10, 20, 30, 40, 50)  # five deposits at once: 100 + 150 = 250
RECEIPT = 0.1  # seconds a receipt takes: five sent one after another cost 0.5 s, not 0.1 s
FIX = (
    "Try: give the account ONE asyncio.Lock, created in __init__, and hold it from the read to "
    "the write:\n"
    "    async with self._lock:\n"
    "        balance = await self.store.read()\n"
    "        await self.store.write(balance + amount)"
)


def _who() -> str:
    task = asyncio.current_task()
    return task.get_name() if task else "?"


class Bank:
    """The fake store holding the balance and the fake receipt service, both watched.

    A read answers with the balance as it was when asked, but only once every deposit of the
    test has begun (a busy database): deposits that nothing holds back all read the same
    balance, every time. The race is forced, not left to luck.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.balance = OPENING
        self.log: list[str] = []  # what the store saw, in order: "deposit(20) read 100"
        self.writes: list[int] = []
        self.receipts: list[tuple[int, int]] = []  # (amount, balance) of every receipt SENT
        self.everyone_arrived = asyncio.Event()

    async def read(self) -> int:
        balance = self.balance  # the balance as it is when asked...
        self.log.append(f"{_who()} read {balance}")
        await self.everyone_arrived.wait()  # ...answered once every deposit has begun
        await asyncio.sleep(0)
        return balance

    async def write(self, balance: int) -> None:
        await asyncio.sleep(0)
        self.balance = balance
        self.writes.append(balance)
        self.log.append(f"{_who()} wrote {balance}")

    async def send_receipt(self, amount: int, balance: int) -> None:
        await self.timeline.work(f"send_receipt({amount}, {balance})", RECEIPT)
        self.receipts.append((amount, balance))

    def history(self) -> str:
        return "\n".join(f"  {line}" for line in self.log) or "  (nothing: no read, no write)"

    async def deposit_all(self, amounts: tuple[int, ...] = AMOUNTS) -> list[int]:
        """One deposit per amount on one account, each in its task, arriving a loop turn apart."""
        account = lock.Account(self, self.send_receipt)
        tasks = []
        for amount in amounts:
            tasks.append(asyncio.create_task(account.deposit(amount), name=f"deposit({amount})"))
            turn = time.perf_counter()
            await asyncio.sleep(0)  # it begins before the next one arrives
            # A frozen loop (time.sleep, threading.Lock) is unfrozen by pytest-timeout once:
            # stop before the next deposit can freeze it again.
            if time.perf_counter() - turn > scaled(1.0):
                pytest.fail(
                    f"deposit({amount}) froze the event loop: no other task ran for "
                    f"{time.perf_counter() - turn:.2f} s. Is there a time.sleep() or a "
                    "threading.Lock in deposit()? Wait with await (asyncio.Lock).",
                    pytrace=False,
                )
        self.everyone_arrived.set()
        return await asyncio.gather(*tasks)


async def test_a_deposit_returns_the_new_balance_once_its_receipt_is_sent(
    timeline: Timeline,
) -> None:
    bank = Bank(timeline)
    [balance] = await bank.deposit_all((10,))
    call = f"deposit(10) on an account holding {OPENING}"
    if balance != 110 or bank.balance != 110:
        pytest.fail(
            f"{call} returned {balance!r} and left {bank.balance} in the store; expected 110 "
            f"for both.\nWhat the store saw:\n{bank.history()}\n"
            "Try: balance = await self.store.read(), then await self.store.write(balance + "
            "amount), and return balance + amount.",
            pytrace=False,
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
    pytest.fail(f"{call}: {mistake}\n\n{timeline.draw()}", pytrace=False)


async def test_five_deposits_at_once_lose_no_update(timeline: Timeline) -> None:
    bank = Bank(timeline)
    await bank.deposit_all()
    expected = OPENING + sum(AMOUNTS)
    if bank.balance == expected:
        return
    call = (
        f"{len(AMOUNTS)} deposits at once ({', '.join(map(str, AMOUNTS))}) into an account "
        f"holding {OPENING}"
    )
    if not any(" read " in line for line in bank.log):
        pytest.fail(
            f"{call} left {bank.balance} in the store; expected {expected}. deposit() never "
            f"read the balance from the store, so it cannot know what the account held.\n"
            f"What the store saw:\n{bank.history()}\n{FIX}",
            pytrace=False,
        )
    if not bank.writes or bank.balance > expected:
        pytest.fail(
            f"{call} left {bank.balance} in the store; expected {expected}: "
            + ("deposit() never wrote the new balance." if not bank.writes else "too much.")
            + f"\nWhat the store saw, in order:\n{bank.history()}\n"
            "Expected: each deposit reads the balance once and writes balance + amount once.",
            pytrace=False,
        )
    first_write = next(i for i, line in enumerate(bank.log) if " wrote " in line)
    together = sum(" read " in line for line in bank.log[:first_write])
    if together > 1:
        what = (
            f"{together} deposits read the balance before the first one had written its new "
            "balance: nothing held them back."
        )
        mistake = (
            "no lock around the read and the write; a lock created inside deposit() (each "
            "call makes its own lock, free at once, so no deposit ever waits); or a lock around "
            "the write alone (the read must be inside it too: a balance read outside the lock "
            "is stale by the time you write)."
        )
    else:
        what = (
            "The first deposit ran alone, but after it several deposits read the balance at "
            "once: whatever held them back let them all go together."
        )
        mistake = (
            "an asyncio.Event (or a flag) used as a lock: set() wakes every waiting deposit at "
            "once, and they all read the same balance. A Lock lets exactly one in at a time."
        )
    pytest.fail(
        f"{call} left {bank.balance} in the store; expected {expected}: "
        f"{expected - bank.balance} went missing.\n"
        f"What the store saw, in order:\n{bank.history()}\n"
        f"{what} Each then wrote the balance IT had read + its amount over the others' updates: "
        "lost updates.\n"
        f"Likely mistake: {mistake}\n{FIX}",
        pytrace=False,
    )


async def test_each_deposit_returns_and_receipts_the_balance_its_own_update_left(
    timeline: Timeline,
) -> None:
    bank = Bank(timeline)
    results = await bank.deposit_all()
    expected = OPENING + sum(AMOUNTS)
    call = f"{len(AMOUNTS)} deposits at once into an account holding {OPENING}"
    if bank.balance != expected:
        pytest.fail(
            f"{call} left {bank.balance} in the store, not {expected}: updates were lost, so "
            "the deposits cannot report their balances. Make "
            "test_five_deposits_at_once_lose_no_update pass first.",
            pytrace=False,
        )
    returned = dict(zip(AMOUNTS, results, strict=True))
    history = [OPENING, *bank.writes]
    left = {after - before: after for before, after in itertools.pairwise(history)}
    if returned != left:
        pytest.fail(
            f"{call} returned {returned} (amount: balance returned), but the balance went "
            f"{' -> '.join(map(str, history))}, so each deposit's own write left {left}.\n"
            "Expected: each deposit returns balance + amount, the balance it wrote itself.\n"
            "Likely mistake: returning the balance it read instead of the new one, or reading "
            "the balance again after the lock was released (another deposit may have changed "
            "it by then).\n"
            "Try: new_balance = balance + amount inside the lock; write it, then return it.",
            pytrace=False,
        )
    sent, wanted = sorted(bank.receipts), sorted(left.items())
    if sent != wanted:
        pytest.fail(
            f"{call} sent the receipts {sent} (amount, balance); expected one per deposit, "
            f"with its amount and the balance it returned: {wanted}.\n"
            "Try: `await self.send_receipt(amount, new_balance)` once per deposit, after the "
            f"write, and return only then.\n\n{timeline.draw()}",
            pytrace=False,
        )


async def test_receipts_are_sent_outside_the_lock_so_they_overlap(timeline: Timeline) -> None:
    bank = Bank(timeline)
    await bank.deposit_all()
    if timeline.peak > 1:
        return
    if not timeline.spans:
        pytest.fail(
            f"{len(AMOUNTS)} deposits at once sent no receipt at all.\n"
            "Try: `await self.send_receipt(amount, new_balance)` once the balance is written.",
            pytrace=False,
        )
    pytest.fail(
        f"{len(AMOUNTS)} deposits at once sent their receipts one after another: never more "
        "than one receipt in flight, although a receipt does not touch the balance.\n"
        "Expected: the receipts in flight together; only the read and the write of the balance "
        "wait for the lock.\n"
        "Likely mistake: sending the receipt inside `async with self._lock:` (the lock held "
        "around the whole deposit): each deposit then waits for the previous one's 0.1 s "
        "receipt too.\n"
        "Try: keep only the read and the write inside `async with self._lock:`, and await "
        f"send_receipt(...) after that block.\n\n{timeline.draw()}",
        pytrace=False,
    )


async def test_five_deposits_with_slow_receipts_take_about_one_receipt(timeline: Timeline) -> None:
    bank = Bank(timeline)
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
