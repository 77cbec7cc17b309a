from __future__ import annotations

import asyncio
import time
from typing import Any

import circuit_breaker
import pytest
from harness import FakeClock, Timeline, cancel_midway, fail, scaled

ANSWER, REFUSED, HANGS = 0.1, 0.02, 1.0  # seconds a call takes: answered, refused, hung
COOL_DOWN = 30.0  # seconds of the fake clock
CALL_TIMEOUT = 0.2  # stage 2: seconds (real time) a call may take
FAST = 0.05  # seconds: at most what refusing takes (scheduling noise, not work)


Breaker = circuit_breaker.CircuitBreaker
CircuitOpen = circuit_breaker.CircuitOpen


async def test_calls_through_a_closed_breaker_run_at_the_same_time(timeline: Timeline) -> None:
    breaker, service, _ = setup(timeline, threshold=3)
    results = await asyncio.gather(*(attempt(breaker, service) for _ in range(3)))
    if results != ["ok"] * 3:
        fail(
            f"3 calls at once through a closed breaker returned {shown(results)}; expected 'ok' "
            "three times: what the service answered.\n\n" + timeline.draw()
        )
    if timeline.peak < 3:
        fail(
            f"3 calls at once through a closed breaker: only {timeline.peak} reached the service "
            "at a time: the breaker made them wait for each other, so they ran one after "
            "another. A breaker must not turn a busy service into a queue.\n"
            "Likely mistake: an asyncio.Lock held around `await fn()`.\n"
            "Expected: all 3 in flight together.\n"
            "Try: keep the `await fn()` outside any lock. The breaker's bookkeeping contains no "
            "`await`, so on one event loop nothing can run in the middle of it: it needs no "
            "lock at all.\n\n" + timeline.draw()
        )


async def test_the_circuit_opens_after_exactly_threshold_failures_in_a_row(
    timeline: Timeline,
) -> None:
    breaker, service, _ = setup(timeline, threshold=3)
    service.down = True
    for _ in range(2):
        await attempt(breaker, service)
    after_two = breaker.state
    if after_two != "closed" or service.calls < 2:
        fail(
            f"CircuitBreaker(failure_threshold=3): after 2 failures in a row breaker.state was "
            f"{after_two!r} and {service.calls} call(s) had reached the service; expected "
            "'closed' and 2: the circuit opened one failure early, an off-by-one.\n"
            "Try: add the failure first, then open when `failures >= failure_threshold`.\n\n"
            + timeline.draw()
        )
    third = await attempt(breaker, service)
    after_three = breaker.state
    fourth = await attempt(breaker, service)
    if after_three == "open" and isinstance(fourth, CircuitOpen) and service.calls == 3:
        return
    advice = (
        "Try: count the failures in a row; the moment the count reaches failure_threshold, "
        "note the time the circuit opened, clock()."
    )
    mistake = ""
    if after_three == "closed" and service.calls == 4:
        mistake = "The circuit opened one failure late, an off-by-one: `>` where `>=` belongs?\n"
    elif after_three == "open" and isinstance(fourth, CircuitOpen) and service.calls == 4:
        mistake = (
            "The circuit did open, and the 4th call ended in CircuitOpen, but it still reached "
            "the service first (4 calls): the breaker called fn() and refused only after the "
            "call had failed, so a service that is down keeps getting every call.\n"
        )
        advice = (
            "Try: check the state at the very start of call(), and raise CircuitOpen before "
            "`await fn()`."
        )
    fail(
        "CircuitBreaker(failure_threshold=3): 4 calls while the service refused connections.\n"
        f"  the 3rd call: {third!r}, then breaker.state was {after_three!r}\n"
        f"  the 4th call: {fourth!r}; calls that reached the service: {service.calls}\n"
        "Expected: the 3rd failure opens the circuit (state 'open') and the 4th call raises "
        f"CircuitOpen without reaching the service (3 calls in all).\n{mistake}{advice}\n\n"
        + timeline.draw()
    )


async def test_a_success_resets_the_count_of_failures_in_a_row(timeline: Timeline) -> None:
    breaker, service, _ = setup(timeline, threshold=3)
    outcomes = []
    for down in (True, True, False, True, True):
        service.down = down
        outcomes.append(await attempt(breaker, service))
    if breaker.state == "closed" and service.calls == 5:
        service.down = True
        outcomes.append(await attempt(breaker, service))
        if breaker.state == "open":
            return
        fail(
            "CircuitBreaker(failure_threshold=3), and the service fails, fails, answers, then "
            f"fails 3 times in a row: the calls gave {shown(outcomes)}; then breaker.state was "
            f"{breaker.state!r}.\nExpected: 'open' after the 3rd failure in a row since the "
            "success: the success sets the count back to 0, not below it.\n"
            "Try: `self._failures = 0` on every success.\n\n" + timeline.draw()
        )
    fail(
        "CircuitBreaker(failure_threshold=3), and the service fails, fails, answers, fails, "
        f"fails: the 5 calls gave {shown(outcomes)}; {service.calls} reached the service; "
        f"then breaker.state was {breaker.state!r}.\n"
        "Expected: all 5 reach the service and the state stays 'closed': there were never 3 "
        "failures IN A ROW, because the success of call 3 started the count again.\n"
        "Likely mistake: counting the total of failures, never reset on success (the breaker "
        "of a busy service would then open on its 3rd failure of the day).\n"
        "Try: set the count back to 0 on every success.\n\n" + timeline.draw()
    )


async def test_while_open_calls_fail_fast_without_reaching_the_service(
    timeline: Timeline,
) -> None:
    breaker, service, _ = setup(timeline, threshold=2)
    await open_circuit(breaker, service, threshold=2)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(scaled(0.5)):
            outcomes = [await attempt(breaker, service) for _ in range(3)]
    except TimeoutError:
        fail(
            "3 calls while the circuit is open were still waiting after 0.5 s: an open circuit "
            "refuses at once (it does not wait for the cool-down to end).\n"
            "Try: while open, raise CircuitOpen right away.\n\n" + timeline.draw()
        )
    took = time.perf_counter() - started
    if service.calls > 2:
        fail(
            f"3 calls while the circuit is open gave {shown(outcomes)}, but "
            f"{service.calls - 2} of them still reached the service (after the 2 that opened "
            "it): the breaker kept calling a service that is down, which is what it is there "
            "to prevent (a struggling service needs the load taken off).\n"
            "Expected: each call raises CircuitOpen WITHOUT calling fn().\n"
            "Try: check the state at the very start of call(), and raise CircuitOpen before "
            "`await fn()`, not after it failed.\n\n" + timeline.draw()
        )
    if not all(isinstance(o, CircuitOpen) for o in outcomes):
        fail(
            f"3 calls while the circuit is open gave {shown(outcomes)}; expected CircuitOpen from "
            "each (the exception class in circuit_breaker.py), so callers can tell 'refused by "
            "the breaker' from a failure of the service.\n\n" + timeline.draw()
        )
    if took > scaled(FAST):
        fail(
            f"3 calls while the circuit is open were refused, right, but took {took:.2f} s; "
            f"expected less than {scaled(FAST):.2f} s: an open circuit refuses at once, before "
            "anything is awaited.\n\n" + timeline.draw()
        )


async def test_after_the_cool_down_only_one_of_five_callers_probes(timeline: Timeline) -> None:
    breaker, service, clock = setup(timeline, threshold=2)
    await open_circuit(breaker, service, threshold=2)
    service.down = False
    clock.advance(COOL_DOWN)
    calls = [asyncio.create_task(attempt(breaker, service)) for _ in range(5)]
    await until_in_flight(timeline, calls[0])
    during = breaker.state  # while the first call that went through is still in flight
    outcomes = await asyncio.gather(*calls)
    probes = service.calls - 2
    call = (
        f"The circuit opened, the fake clock moved on by the cool-down ({COOL_DOWN:.0f} s), "
        "then 5 callers called at once"
    )
    if probes == 0:
        reads = clock.reads  # before the state is read again below
        clock.advance(1)
        later = breaker.state
        fail(
            f"{call}: none of them reached the service ({shown(outcomes)}): no probe was sent, "
            "although the cool-down had passed.\n"
            + (
                "Your breaker never read the clock it was given (0 reads): it reads the time "
                "itself (time.monotonic()), which the test cannot move on.\n"
                if reads == 0
                else f"1 s later breaker.state was {later!r}: at exactly {COOL_DOWN:.0f} s "
                "the circuit stayed open one moment too long, an off-by-one (`<=` where `<` "
                "belongs: open while clock() - opened_at < cool_down).\n"
                if later == "half-open"
                else ""
            )
            + "Expected: one of them goes to the service (the probe).\n"
            "Try: note clock() when the circuit opens; once clock() - that >= cool_down, the "
            "circuit is half-open and the next call goes through.\n\n" + timeline.draw()
        )
    if probes > 1 and during == "closed":
        fail(
            f"{call}: {probes} of them reached the service; expected exactly 1, the probe. "
            "While the first of them was still in flight, breaker.state was already 'closed': "
            "the circuit closed as soon as the probe went out, before it had answered, so the "
            "callers after it went through as if the service were well again: half-open "
            "handled as closed.\n"
            "Expected: 'half-open' while the probe runs, the others refused with CircuitOpen; "
            "closed only once the probe has succeeded.\n"
            "Try: when the cool-down has passed, let one call through as the probe and keep "
            "refusing the others; close the circuit on the probe's success, not before.\n\n"
            + timeline.draw()
        )
    if probes > 1:
        fail(
            f"{call}: {probes} of them reached the service; expected exactly 1, the probe. "
            f"{'Every caller probed' if probes == 5 else 'More than one caller probed'}: "
            "each one saw 'half-open' before the first probe had marked itself, and a service "
            "that is just coming back gets the whole stampede again.\n"
            "Likely mistake: marking the probe in flight only after an `await` (or not at "
            "all), or holding a lock that queues the others behind the probe.\n"
            "Try: a flag, `self._probing = True`, set BEFORE `await fn()`: on one event loop "
            "no other caller runs between your check and that line. Callers that find it set "
            "raise CircuitOpen at once; reset it in `finally`.\n\n" + timeline.draw()
        )
    refused = sum(isinstance(o, CircuitOpen) for o in outcomes)
    if outcomes.count("ok") != 1 or refused != 4:
        fail(
            f"{call}: exactly one reached the service, right, but the 5 got {shown(outcomes)}; "
            "expected 'ok' for the probe (the service answered) and CircuitOpen for the 4 others, "
            "refused at once while the probe was out.\n\n" + timeline.draw()
        )


async def test_the_state_is_half_open_from_the_very_end_of_the_cool_down(
    timeline: Timeline,
) -> None:
    breaker, service, clock = setup(timeline, threshold=2)
    await open_circuit(breaker, service, threshold=2)
    service.down = False
    seen = []
    for step in (COOL_DOWN - 1, 1):
        clock.advance(step)
        seen.append(f"{clock.now - 1000:.0f} s after it opened: {breaker.state!r}")
    probe = asyncio.create_task(attempt(breaker, service))
    await until_in_flight(timeline, probe)
    seen.append(f"while the probe runs: {breaker.state!r}")
    await probe
    seen.append(f"after the probe returned {probe.result()!r}: {breaker.state!r}")
    expected = [
        f"{COOL_DOWN - 1:.0f} s after it opened: 'open'",
        f"{COOL_DOWN:.0f} s after it opened: 'half-open'",
        "while the probe runs: 'half-open'",
        "after the probe returned 'ok': 'closed'",
    ]
    if seen == expected:
        return
    late = seen[0] == expected[0] and seen[1].endswith("'open'")
    fail(
        f"The circuit opened at clock() = 1000 (cool_down={COOL_DOWN:.0f}); breaker.state was:\n"
        + "\n".join(
            f"  {got:<45} expected {want.rsplit(': ', 1)[1]}"
            for got, want in zip(seen, expected, strict=True)
        )
        + "\n"
        + (
            f"At exactly {COOL_DOWN:.0f} s the cool-down has passed, yet the circuit was still "
            "open: it stayed open one moment too long, an off-by-one (`<=` where `<` belongs: "
            "open while clock() - opened_at < cool_down).\n"
            if late
            else ""
        )
        + "Expected: 'open' until cool_down seconds of clock() have passed since it opened, "
        "'half-open' from then on and while the probe runs, 'closed' after it succeeded.\n\n"
        + timeline.draw()
    )


async def test_long_after_the_cool_down_the_next_call_probes(timeline: Timeline) -> None:
    breaker, service, clock = setup(timeline, threshold=2)
    await open_circuit(breaker, service, threshold=2)
    service.down = False
    clock.advance(COOL_DOWN)
    at_the_end = breaker.state
    clock.advance(COOL_DOWN)
    long_after, calls = breaker.state, service.calls
    outcome = await attempt(breaker, service)
    if long_after == "half-open" and outcome == "ok" and breaker.state == "closed":
        return
    exact = (
        f"It was {at_the_end!r} at exactly {COOL_DOWN:.0f} s, yet {long_after!r} at "
        f"{2 * COOL_DOWN:.0f} s: it half-opens only at the very end of the cool-down, not after "
        "it (an elapsed time compared with `==` or `!=`, not `<`).\n"
        if at_the_end == "half-open" and long_after == "open"
        else ""
    )
    fail(
        f"The circuit opened, then clock() moved on {2 * COOL_DOWN:.0f} s (cool_down="
        f"{COOL_DOWN:.0f}): breaker.state was {long_after!r}, and the next call gave "
        f"{shown([outcome])} ({service.calls - calls} call(s) reached the service); then the "
        f"state was {breaker.state!r}.\n{exact}"
        "Expected: 'half-open' once cool_down seconds have passed, however long ago; the next "
        "call probes, succeeds and closes the circuit.\n"
        "Try: open while `clock() - opened_at < cool_down`, half-open otherwise.\n\n"
        + timeline.draw()
    )


async def test_a_successful_probe_closes_the_circuit(timeline: Timeline) -> None:
    breaker, service, clock = setup(timeline, threshold=2)
    await open_circuit(breaker, service, threshold=2)
    service.down = False
    clock.advance(COOL_DOWN)
    probe = await attempt(breaker, service)
    if isinstance(probe, CircuitOpen):
        fail(
            f"The circuit opened at clock() = 1000, then the fake clock moved on to "
            f"{clock.now:.0f}, a cool-down of {COOL_DOWN:.0f} s later, and the next call was "
            "still refused with CircuitOpen: the cool-down never ended.\n"
            + (
                "Your breaker never read the clock it was given (0 reads): it reads the time "
                "itself (time.monotonic(), time.time()), which the test cannot move on, and "
                "which in real code makes a breaker impossible to test without waiting.\n"
                "Try: read the time only through the clock you were given: `self.clock()`."
                if clock.reads == 0
                else "Try: the cool-down has passed once clock() - (clock() when it opened) "
                ">= cool_down; then let the next call through as the probe."
            )
            + "\n\n"
            + timeline.draw()
        )
    after_probe = breaker.state
    service.down = True
    failure = await attempt(breaker, service)
    if probe == "ok" and after_probe == "closed" and breaker.state == "closed":
        return
    fail(
        f"The circuit opened, the cool-down passed, and the probe returned {probe!r}; then "
        f"breaker.state was {after_probe!r}. One more call failed ({failure!r}), and then "
        f"breaker.state was {breaker.state!r}.\n"
        "Expected: the probe returns 'ok' and closes the circuit ('closed'), with a fresh "
        "count: one failure after it is 1 of 2, so the circuit stays 'closed'.\n"
        "Try: on the probe's success, forget when the circuit opened and set the count of "
        "failures back to 0.\n\n" + timeline.draw()
    )


async def test_a_failed_probe_opens_the_circuit_again_for_a_fresh_cool_down(
    timeline: Timeline,
) -> None:
    breaker, service, clock = setup(timeline, threshold=2)
    await open_circuit(breaker, service, threshold=2)
    clock.advance(COOL_DOWN)
    probe = await attempt(breaker, service)
    after_probe = breaker.state
    reached = service.calls - 2  # the probe, if it went to the service
    if not isinstance(probe, ConnectionError) or after_probe != "open":
        if after_probe == "closed":
            mistake = (
                "Likely mistake: half-open handled as closed with a fresh count, so the failed "
                "probe is only 1 failure of 2 and the circuit stays closed.\n"
                "Try: a probe that fails opens the circuit again by itself, whatever the count."
            )
        elif after_probe == "half-open":
            mistake = (
                "The circuit reopened, but the cool-down did not start again: it still counts "
                "from the time the circuit first opened, so it is over already.\n"
                "Try: when the probe fails, note the time again: `opened_at = clock()`."
            )
        elif isinstance(probe, CircuitOpen) and reached:
            mistake = (
                "The probe reached the service and failed there, yet its caller got "
                "CircuitOpen, not the service's error: CircuitOpen is only for calls the "
                "breaker refused without calling; a call that reached the service fails for "
                "the service's reason.\n"
                "Try: count the failure, then a bare `raise` in the `except` block."
            )
        else:
            mistake = (
                "Try: let the probe reach the service and its exception reach the caller "
                "unchanged; a probe that fails opens the circuit again by itself."
            )
        fail(
            f"The circuit opened, the cool-down passed, and the probe call, to a service still "
            f"down, gave {probe!r}; then breaker.state was {after_probe!r}.\n"
            "Expected: the probe reaches the service, its ConnectionError reaches the caller, "
            "and the circuit is 'open' again at once, for a fresh cool-down: the service is "
            f"still down.\n{mistake}\n\n{timeline.draw()}"
        )
    calls = service.calls
    clock.advance(COOL_DOWN - 1)
    early = await attempt(breaker, service)
    if service.calls > calls or not isinstance(early, CircuitOpen):
        fail(
            f"The probe failed at clock() = {clock.now - COOL_DOWN + 1:.0f}, and "
            f"{COOL_DOWN - 1:.0f} s later (less than the cool-down) a call gave {early!r} "
            f"and reached the service ({service.calls - calls} call): the cool-down did not "
            "start again when the probe failed.\n"
            "Expected: CircuitOpen, without a call: a failed probe starts a fresh cool-down.\n"
            "Likely mistake: keeping the time the circuit first opened, so every call after "
            "the first cool-down is a probe.\n"
            "Try: on the probe's failure, note the time again: `opened_at = clock()`.\n\n"
            + timeline.draw()
        )
    clock.advance(1)
    await attempt(breaker, service)
    if service.calls != calls + 1:
        fail(
            f"The probe failed, and {COOL_DOWN:.0f} s of the clock later, a fresh cool-down, "
            "the next call did not reach the service: expected a new probe.\n\n" + timeline.draw()
        )


async def test_a_cancelled_probe_lets_the_next_call_probe(timeline: Timeline) -> None:
    breaker, service, clock = setup(timeline, threshold=2)
    await open_circuit(breaker, service, threshold=2)
    service.down = False
    clock.advance(COOL_DOWN)
    # The probe's caller gives up mid-call: the probe must end cancelled, and hold nothing.
    what = "breaker.call(fn), the probe after the cool-down,"
    await cancel_midway(breaker.call(service.fn), after=ANSWER / 2, what=what, timeline=timeline)
    after = breaker.state
    probe = await attempt(breaker, service)
    if probe == "ok" and service.calls == 4 and breaker.state == "closed":
        return
    fail(
        f"The cool-down passed, and the probe was cancelled mid-call (its caller gave up); then "
        f"breaker.state was {after!r}, and the next call gave {probe!r} "
        f"({service.calls - 3} call(s) reached the service after the cancelled probe).\n"
        + (
            "The cancelled probe is still marked as in flight although its call was over: "
            "no probe will ever go out again, and the breaker refuses every call for good.\n"
            "Try: unmark the probe in `finally:`, which runs however the call ends, "
            "cancelled too.\n"
            if isinstance(probe, CircuitOpen) and after == "half-open"
            else "The cancelled probe was counted as a failed probe: the circuit opened again, "
            "for a fresh cool-down, though the service never answered.\n"
            "Try: count failures in `except Exception:`; a CancelledError passes by.\n"
            if after == "open"
            else ""
        )
        + "Expected: a cancelled probe tells nothing about the service: the circuit stays "
        "'half-open', and the next call is the probe ('ok', then 'closed').\n\n" + timeline.draw()
    )


async def test_a_cancelled_call_counts_neither_as_a_failure_nor_as_a_success(
    timeline: Timeline,
) -> None:
    breaker, service, _ = setup(timeline, threshold=2)
    service.down = True
    first = await attempt(breaker, service)
    service.down = False
    what = "breaker.call(fn), after 1 failure of 2,"
    await cancel_midway(breaker.call(service.fn), after=ANSWER / 2, what=what, timeline=timeline)
    after_cancel = breaker.state
    service.down = True
    third = await attempt(breaker, service)
    after_third = breaker.state
    if (after_cancel, after_third) == ("closed", "open"):
        return
    call = (
        "CircuitBreaker(failure_threshold=2): a call fails, the next is cancelled mid-call (its "
        "caller gave up), the next fails"
    )
    fail(
        f"{call}: {first!r}, then breaker.state was {after_cancel!r}; {third!r}, then "
        f"{after_third!r}.\n"
        + (
            "The cancelled call was counted as a failure, and opened the circuit: a caller "
            "that gives up (its own timeout, a client gone) says nothing about the service.\n"
            "Try: count failures in `except Exception:`; a CancelledError is not an "
            "Exception, so it passes by.\n"
            if after_cancel == "open"
            else "The cancelled call was counted as a success: it reset the count of "
            "failures in a row.\n"
            if after_third == "closed"
            else ""
        )
        + "Expected: 'closed' after the cancelled call (still 1 failure of 2), then 'open' "
        "after the next failure.\n\n" + timeline.draw()
    )


async def test_a_success_that_ends_after_the_circuit_opened_closes_it(
    timeline: Timeline,
) -> None:
    breaker, service, _ = setup(timeline, threshold=2)
    slow = asyncio.create_task(attempt(breaker, service))  # answers 'ok' after 0.1 s
    await until_in_flight(timeline, slow)
    service.down = True
    for _ in range(2):
        await attempt(breaker, service)  # two quick failures: the circuit opens
    opened = breaker.state
    await slow
    if opened == "open" and slow.result() == "ok" and breaker.state == "closed":
        return
    fail(
        "CircuitBreaker(failure_threshold=2): a call to a healthy service (0.1 s) is in flight "
        f"when 2 quick failures open the circuit (state then {opened!r}); the first call then "
        f"returned {slow.result()!r}, and breaker.state was {breaker.state!r}.\n"
        "Expected: 'closed': the service answered, which is all a probe would have told; a "
        "success closes the circuit, whenever its call began.\n"
        "Try: on every success, set the count back to 0 and close the circuit.\n\n"
        + timeline.draw()
    )


async def test_a_failure_that_ends_after_the_circuit_opened_restarts_the_cool_down(
    timeline: Timeline,
) -> None:
    breaker, service, clock = setup(timeline, threshold=2)
    error = ConnectionError("connection reset (the slow call)")
    release = asyncio.Event()

    async def fails_late() -> str:
        with timeline.record("slow call"):
            await release.wait()  # it fails when the test says, not on a timer
            raise error

    late = asyncio.create_task(breaker.call(fails_late))
    await until_in_flight(timeline, late)
    await open_circuit(breaker, service, threshold=2)  # at clock() = 1000
    clock.advance(20)
    release.set()
    await asyncio.wait({late})
    outcome = late.exception()
    after_late = breaker.state
    calls = service.calls
    clock.advance(COOL_DOWN - 20)
    early = await attempt(breaker, service)
    reached = service.calls - calls
    clock.advance(20)
    later = breaker.state
    right = outcome is error and after_late == "open" and isinstance(early, CircuitOpen)
    if right and not reached and later == "half-open":
        return
    call = (
        "CircuitBreaker(failure_threshold=2): a call is in flight when 2 quick failures open "
        "the circuit at clock() = 1000, and that call fails 20 s later"
    )
    if outcome is not error:
        fail(
            f"{call}: it {'returned' if outcome is None else f'raised {outcome!r}'}; expected "
            f"the very exception the service raised, {error!r}: the call was let through, so "
            "it fails for the service's reason, "
            "whatever the state is by then.\n"
            "Try: count the failure, then a bare `raise` in the `except` block.\n\n"
            + timeline.draw()
        )
    fail(
        f"{call}: then breaker.state was {after_late!r}; 30 s after the circuit opened (10 s "
        f"after the late failure) a call gave {early!r} ({reached} call(s) reached the "
        f"service), and 20 s later breaker.state was {later!r}.\n"
        + (
            "The late failure left the cool-down where it was: it still counted from "
            "clock() = 1000, when the circuit opened, so a probe went out 10 s after the "
            "service had failed again.\n"
            if after_late == "open" and reached
            else ""
        )
        + "Expected: 'open', CircuitOpen without a call, then 'half-open': a failure that ends "
        "while the circuit is open counts like any other, and starts a fresh cool-down from "
        "that moment, as a failed probe does (the service was still failing at 1020).\n"
        "Try: note the time on every failure that finds the count at the threshold or past "
        "it: `if probe or failures >= failure_threshold: opened_at = clock()`.\n\n"
        + timeline.draw()
    )


async def test_while_closed_the_service_error_reaches_the_caller_unchanged(
    timeline: Timeline,
) -> None:
    breaker, service, _ = setup(timeline, threshold=3)
    service.down = True
    outcomes = [await attempt(breaker, service) for _ in range(3)]
    wrong = [
        (n, got, sent)
        for n, (got, sent) in enumerate(zip(outcomes, service.errors, strict=False), 1)
        if got is not sent
    ]
    if not wrong and len(outcomes) == len(service.errors):
        return
    n, got, sent = wrong[0] if wrong else (len(service.errors) + 1, outcomes[-1], None)
    which = "the call that opened the circuit" if n == 3 else f"call {n}"
    fail(
        "CircuitBreaker(failure_threshold=3), 3 calls while the service refuses connections: "
        f"{which} raised {got!r}; expected the very exception the service raised, "
        f"{sent!r}.\n"
        + (
            "That call reached the service, so it failed for the service's reason: "
            "CircuitOpen is only for calls the breaker refused without calling.\n"
            if n == 3 and isinstance(got, CircuitOpen)
            else "The breaker wrapped or replaced the service's error: callers must be able to "
            "`except ConnectionError:` as if there were no breaker.\n"
        )
        + "Try: count the failure, then a bare `raise` in the `except` block.\n\n"
        + timeline.draw()
    )


# Stage 2: the service no longer refuses connections; it hangs. call_timeout=0.2 (real time).


@pytest.mark.stage(2)
async def test_a_call_slower_than_call_timeout_is_cancelled_with_timeouterror(
    timeline: Timeline,
) -> None:
    breaker, service, _ = setup(timeline, threshold=2, call_timeout=scaled(CALL_TIMEOUT))
    service.hangs = True
    call = f"CircuitBreaker(..., call_timeout={CALL_TIMEOUT}).call(a service that hangs)"
    with timeline.expect_duration(
        CALL_TIMEOUT,
        what=call,
        too_slow="the call was not cut off at call_timeout.",
        advice="run `await fn()` inside `async with asyncio.timeout(self.call_timeout):`.",
    ):
        outcome = await attempt(breaker, service)
    hung = timeline.span("service call 1")
    if isinstance(outcome, TimeoutError) and hung.cancelled:
        return
    fail(
        f"{call} gave {outcome!r}; the service call was "
        + (
            "cancelled."
            if hung.cancelled
            else "left running: the caller stopped waiting, but the call goes on behind its "
            "back, holding a connection to a service that is already struggling."
            if hung.end is None
            else "not cancelled."
        )
        + "\nExpected: TimeoutError after 0.2 s, and the service call cancelled.\n"
        "Try: asyncio.timeout() cancels what it wraps and raises TimeoutError; "
        "asyncio.wait(..., timeout=...) only stops waiting.\n\n" + timeline.draw()
    )


@pytest.mark.stage(2)
async def test_timeouts_count_as_failures_and_open_the_circuit(timeline: Timeline) -> None:
    breaker, service, _ = setup(timeline, threshold=2, call_timeout=scaled(CALL_TIMEOUT))
    service.hangs = True
    outcomes = [await attempt(breaker, service) for _ in range(2)]
    after_two = breaker.state
    third = await attempt(breaker, service)
    if after_two == "open" and isinstance(third, CircuitOpen) and service.calls == 2:
        return
    fail(
        f"CircuitBreaker(failure_threshold=2, call_timeout={CALL_TIMEOUT}), 2 calls to a "
        f"service that hangs gave {shown(outcomes)}; then breaker.state was {after_two!r}, and "
        f"a 3rd call gave {third!r} ({service.calls} calls reached the service).\n"
        "Expected: each timeout counts as a failure, so the circuit is 'open' after 2 and "
        "the 3rd call is refused with CircuitOpen: a hanging service is as down as a refusing "
        "one.\n"
        + (
            "Likely mistake: the failure is counted INSIDE `async with asyncio.timeout()`, "
            "where the timeout is still a CancelledError (not an Exception): it becomes "
            "TimeoutError only as it leaves the block.\n"
            if after_two == "closed" and all(isinstance(o, TimeoutError) for o in outcomes)
            else ""
        )
        + "Try: `try:` around the whole `async with asyncio.timeout(...)` block, and count "
        "the failure in its `except Exception:`.\n\n" + timeline.draw()
    )


class Service:
    """A fake service on the timeline: answers "ok" after 0.1 s; while `down`, refuses the
    connection after 0.02 s (a new ConnectionError each time); while `hangs`, answers only
    after 1 s."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.down = False
        self.hangs = False
        self.calls = 0  # the calls that reached the service
        self.errors: list[ConnectionError] = []

    async def fn(self) -> str:
        """The call the breaker guards: `breaker.call(service.fn)`."""
        self.calls += 1
        label = f"service call {self.calls}"
        if not self.down:
            return str(await self.timeline.work(label, HANGS if self.hangs else ANSWER, "ok"))
        error = ConnectionError(f"connection refused (call {self.calls})")
        self.errors.append(error)
        return str(await self.timeline.work(label, REFUSED, error=error))


def setup(timeline: Timeline, threshold: int, **options: Any) -> tuple[Breaker, Service, FakeClock]:
    """A breaker for the fake service, with a fake clock; the service and the clock."""
    clock = FakeClock(timeline)
    breaker = Breaker(threshold, COOL_DOWN, clock, **options)
    return breaker, Service(timeline), clock


async def attempt(breaker: Breaker, service: Service) -> Any:
    """breaker.call(service.fn): what it returned, or the exception it raised (a refusal is
    drawn on the timeline as an instant)."""
    try:
        return await breaker.call(service.fn)
    except NotImplementedError:
        raise
    except CircuitOpen as refused:
        service.timeline.mark("CircuitOpen")
        return refused
    except Exception as error:
        return error


async def open_circuit(breaker: Breaker, service: Service, threshold: int) -> None:
    """Open the circuit: `threshold` failures in a row."""
    service.down = True
    for _ in range(threshold):
        await attempt(breaker, service)
    if breaker.state != "open":
        fail(
            f"To set up this test, {threshold} calls failed in a row (threshold {threshold}), "
            f"but then breaker.state was {breaker.state!r}, not 'open'. "
            "test_the_circuit_opens_after_exactly_threshold_failures_in_a_row explains.\n\n"
            + service.timeline.draw()
        )


def shown(outcomes: list[Any]) -> str:
    """The outcomes of some calls, a run of equal ones shown once: "'ok', CircuitOpen(...) x3"."""
    runs: list[tuple[str, int]] = []
    for text in map(repr, outcomes):
        if runs and runs[-1][0] == text:
            runs[-1] = (text, runs[-1][1] + 1)
        else:
            runs.append((text, 1))
    return ", ".join(text + (f" x{n}" if n > 1 else "") for text, n in runs)


async def until_in_flight(timeline: Timeline, call: asyncio.Task[Any]) -> None:
    """Wait until `call` is in flight at the service, or over (refused): a probe, no clock."""
    for _ in range(100):
        if timeline.in_flight or call.done():
            break
        await asyncio.sleep(0)
    if call.done() and not call.cancelled() and call.exception() is not None:
        raise call.exception()  # type: ignore[misc]  # NotImplementedError...
