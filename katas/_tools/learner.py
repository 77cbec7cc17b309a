"""The learner's commands: `practice` (where am I, what next) and `kata NN` (work on one kata).

Run through nox (`nox -s practice`, `nox -s kata -- 04`) or directly:
`python -m katas._tools.learner practice`. It only reads files under katas/; it never writes.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from itertools import groupby

import pytest

from katas._tools.catalog import REPO, Kata, KataError, all_katas, find
from katas._tools.results import Outcome, Results

PASSED, FAILING, NOT_STARTED, BROKEN = "passed", "failing", "not started", "broken"


@dataclass
class Status:
    kata: Kata
    state: str  # passed | failing | not started | broken
    detail: str  # the first failing test and its reason, or what is broken
    outcomes: list[Outcome]

    def line(self) -> str:
        state = self.state if self.state != BROKEN else "error"
        return f"  {self.kata.number} {self.kata.slug:<20} {state:<12} {self.detail}".rstrip()


def run_katas(katas: list[Kata]) -> dict[str, list[Outcome]]:
    """Run the katas' tests once, in this process; their outcomes by kata folder name."""
    results = Results()
    args = [str(k.folder.relative_to(REPO)) for k in katas]
    os.chdir(REPO)
    with open(os.devnull, "w") as quiet, redirect_stdout(quiet):  # our own report instead
        pytest.main(["-q", "--continue-on-collection-errors", *args], plugins=[results])
    by_kata: dict[str, list[Outcome]] = {k.name: [] for k in katas}
    for outcome in results.tests.values():
        by_kata.setdefault(outcome.kata, []).append(outcome)
    return by_kata


def status_of(kata: Kata, outcomes: list[Outcome]) -> Status:
    if missing := kata.missing():
        return Status(kata, BROKEN, f"missing {', '.join(missing)} (git checkout restores it)", [])
    if error := kata.syntax_error():
        return Status(kata, BROKEN, f"syntax error at {error}", [])
    failed = [o for o in outcomes if o.outcome != "passed"]
    if not outcomes:
        return Status(kata, BROKEN, "no test ran", outcomes)
    if not failed:
        return Status(kata, PASSED, "", outcomes)
    if all("NotImplementedError" in o.text for o in outcomes):
        return Status(kata, NOT_STARTED, "", outcomes)
    first = failed[0]
    return Status(kata, FAILING, f"{first.test or 'import'}: {first.reason}"[:100], outcomes)


def statuses(katas: list[Kata]) -> list[Status]:
    runnable = [k for k in katas if not k.missing() and not k.syntax_error()]
    outcomes = run_katas(runnable) if runnable else {}
    return [status_of(k, outcomes.get(k.name, [])) for k in katas]


def practice() -> int:
    """Every kata's state, grouped by track, then the next kata to work on."""
    katas = all_katas()
    found = statuses(katas)
    done = sum(s.state == PASSED for s in found)
    print(f"asyncio-katas: {done} of {len(found)} katas done\n")
    for track, group in groupby(found, key=lambda s: s.kata.meta()[1] or "Other"):
        print(track)
        for status in group:
            print(status.line())
        print()
    upcoming = next((s for s in found if s.state != PASSED), None)
    if upcoming is None:
        print("Every kata passes. Well done! Try them again with KATA_TIME_SCALE=0.5 for fun.")
        return 0
    kata = upcoming.kata
    print(f"Next: {kata.name}")
    print(f"  read  {kata.readme.relative_to(REPO)}")
    print(f"  edit  {kata.stub.relative_to(REPO)}")
    print(f"  run   nox -s kata -- {kata.number}")
    return 0


def run_one(name: str) -> int:
    """One kata's tests: a line per test, then the first failure in full."""
    kata = find(name)
    if missing := kata.missing():
        raise KataError(
            f"{kata.name} is missing {', '.join(missing)}: `git checkout -- "
            f"{kata.folder.relative_to(REPO)}` restores it"
        )
    if error := kata.syntax_error():
        raise KataError(f"syntax error at {error}")
    status = status_of(kata, run_katas([kata]).get(kata.name, []))
    if status.state == BROKEN:
        raise KataError(f"{kata.name}: {status.detail}")
    print(f"{kata.meta()[0]}\n")
    for o in status.outcomes:
        print(f"  {'PASS' if o.outcome == 'passed' else 'FAIL'}  {o.test or o.reason}")
    failed = [o for o in status.outcomes if o.outcome != "passed"]
    passed = len(status.outcomes) - len(failed)
    if failed:
        print(f"\nFirst failure, {failed[0].test}:\n\n{failed[0].text.rstrip()}\n")
        print(
            f"{passed} of {len(status.outcomes)} tests pass. Edit "
            f"{kata.stub.relative_to(REPO)} and run `nox -s kata -- {kata.number}` again."
        )
        return 1
    print(f"\nAll {passed} tests pass: {kata.name} is done. `nox -s practice` shows what is next.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="katas", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("practice", help="every kata's state and the next one to do")
    one = commands.add_parser("kata", help="run one kata's tests")
    one.add_argument("name", help="a kata's number or name, e.g. 04 or gather")
    args = parser.parse_args(argv)
    try:
        return practice() if args.command == "practice" else run_one(args.name)
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
