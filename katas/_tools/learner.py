"""The learner's commands: practice, kata, hint, reset and solution.

Run through nox (`nox -s practice`, `nox -s kata -- 04`, `nox -s hint -- 04`, ...) or directly:
`python -m katas._tools.learner practice`. Only `reset`, after a confirmation and a backup,
ever writes under katas/; the rest only read (state goes to the git-ignored .katas/ folder).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from katas._tools.catalog import REPO, Kata, KataError, all_katas, find
from katas._tools.record import fingerprint, harness_files, load_record, pristine, save_results
from katas._tools.results import Outcome, Results
from katas._tools.state import FOLDER, load, save

PASSED, FAILING, NOT_STARTED, BROKEN = "passed", "failing", "not started", "broken"


@dataclass
class Status:
    kata: Kata
    state: str  # passed | failing | not started | broken
    detail: str  # the first failing test and its reason, or what is broken
    outcomes: list[Outcome]
    stale: bool = False  # read from a record that no longer matches the files (not rerun)
    fresh: bool = False  # run just now (not read from the record)

    def line(self) -> str:
        state = self.state if self.state != BROKEN else "error"
        if self.stale:
            state += " (stale)"
        return f"  {self.kata.number} {self.kata.slug:<20} {state:<12} {self.detail}".rstrip()

    def recorded(self, fingerprint: str) -> dict[str, Any]:
        """This status as the record keeps it (without the long failure texts)."""
        tests = [{**asdict(o), "text": ""} for o in self.outcomes]
        return {
            "fingerprint": fingerprint,
            "state": self.state,
            "detail": self.detail,
            "tests": tests,
        }


def run_katas(katas: list[Kata]) -> dict[str, list[Outcome]]:
    """Run the katas' tests once, in this process; their outcomes by kata folder name."""
    import pytest  # here, not above: the progress view usually needs no run at all

    results = Results()
    args = [str(k.folder.relative_to(REPO)) for k in katas]
    os.chdir(REPO)
    with open(os.devnull, "w") as quiet, redirect_stdout(quiet):  # our own report instead
        pytest.main(["-q", "--continue-on-collection-errors", *args], plugins=[results])
    by_kata: dict[str, list[Outcome]] = {k.name: [] for k in katas}
    for outcome in results.tests.values():
        by_kata.setdefault(outcome.kata, []).append(outcome)
    return by_kata


def broken(kata: Kata) -> Status | None:
    """The kata cannot run: a file is missing or the learner's file does not parse."""
    if missing := kata.missing():
        return Status(kata, BROKEN, f"missing {', '.join(missing)} (git checkout restores it)", [])
    if error := kata.syntax_error():
        return Status(kata, BROKEN, f"syntax error at {error}", [])
    return None


def status_of(kata: Kata, outcomes: list[Outcome], stage: int | None = None) -> Status:
    if trouble := broken(kata):
        return trouble
    failed = [o for o in outcomes if o.outcome != "passed"]
    if not outcomes:
        return Status(kata, BROKEN, "no test ran", outcomes)
    current, stages = (stage or unlocked(kata)), kata.stages()
    if not failed:
        if current < stages:
            detail = f"stage {current} passed, stage {current + 1} locked: --stage {current + 1}"
        else:
            detail = f"stage {current} of {stages}" if stages > 1 else ""
        return Status(kata, PASSED, detail, outcomes)
    if all("NotImplementedError" in o.text for o in outcomes):
        return Status(kata, NOT_STARTED, "", outcomes)
    first = failed[0]
    where = f"stage {current}: " if current > 1 else ""
    return Status(kata, FAILING, f"{where}{first.test or 'import'}: {first.reason}"[:100], outcomes)


def statuses(katas: list[Kata], rerun_all: bool = False) -> list[Status]:
    """Every kata's status: from the record where nothing changed, else from a fresh run."""
    stages = load().get("stages", {})
    harness = harness_files(katas[0].root) if katas else []
    prints = {k.name: fingerprint(k, int(stages.get(k.name, 1)), harness) for k in katas}
    record = {} if rerun_all else load_record()
    untouched = set() if rerun_all else pristine(katas)
    found: dict[str, Status] = {}
    for kata in katas:
        kept = record.get(kata.name)
        if trouble := broken(kata):
            found[kata.name] = trouble
        elif kata.name in untouched:
            found[kata.name] = Status(kata, NOT_STARTED, "", [])
        elif kept and kept.get("fingerprint") == prints[kata.name]:
            found[kata.name] = _from_record(kata, kept)
    rerun = [k for k in katas if k.name not in found]
    try:
        outcomes = run_katas(rerun) if rerun else {}
    except KeyboardInterrupt:  # keep what is known; the rest shows as stale until rerun
        print("interrupted: the katas not rerun show their last result, marked stale")
        outcomes = {}
    fresh = {}
    for kata in rerun:
        if outcomes.get(kata.name):
            status = status_of(kata, outcomes[kata.name], int(stages.get(kata.name, 1)))
            status.fresh = True
            found[kata.name] = status
            fresh[kata.name] = status.recorded(prints[kata.name])
        elif kept := record.get(kata.name) or load_record().get(kata.name):
            found[kata.name] = _from_record(kata, kept, stale=True)
        else:
            found[kata.name] = status_of(kata, [])
    if fresh:
        save_results(fresh)
    return [found[k.name] for k in katas]


def _from_record(kata: Kata, kept: dict[str, Any], stale: bool = False) -> Status:
    outcomes = [Outcome(**test) for test in kept.get("tests", [])]
    return Status(kata, kept["state"], kept.get("detail", ""), outcomes, stale)


def record(kata: Kata, status: Status) -> None:
    """Keep a kata's fresh result, so that the progress view need not run it again."""
    if status.state != BROKEN:
        stage = unlocked(kata)
        save_results(
            {kata.name: status.recorded(fingerprint(kata, stage, harness_files(kata.root)))}
        )


def practice(json_path: str | None = None, rerun_all: bool = False) -> int:
    """Every kata's state, grouped by track, then the next kata to work on."""
    katas = all_katas()
    started = time.monotonic()
    found = statuses(katas, rerun_all)
    took = time.monotonic() - started
    if json_path:
        write_json(found, Path(json_path))
    done = sum(s.state == PASSED for s in found)
    print(f"asyncio-katas: {done} of {len(found)} katas done\n")
    if stale := [s.kata.name for s in found if s.stale]:
        print(f"Stale, not rerun since their files changed: {', '.join(stale)}\n")
    for track, group in groupby(found, key=lambda s: s.kata.meta()[1] or "Other"):
        print(track)
        for status in group:
            print(status.line())
        print()
    ran = sum(s.fresh for s in found)
    print(
        f"Ran the tests of {ran} kata{'s' * (ran != 1)} ({took:.1f} s); the other "
        f"{len(found) - ran} are untouched or unchanged since their last run "
        "(`-- --all` reruns every kata).\n"
    )
    upcoming = next((s for s in found if s.state != PASSED), None)
    if upcoming is None:
        print(
            "Every kata passes. Well done! Where a kata has a follow-up stage, "
            "`python3 -m nox -s kata -- NN --stage 2` unlocks it."
        )
        return 0
    kata = upcoming.kata
    print(f"Next: {kata.name}")
    print(f"  read  {kata.readme.relative_to(REPO)}")
    print(f"  edit  {kata.stub.relative_to(REPO)}")
    print(
        f"  run   python3 -m nox -s kata -- {kata.number}"
        "    (or python3 -m nox -s watch, which reruns on every save)"
    )
    return 0


def write_json(found: list[Status], path: Path) -> None:
    """Per-kata status and per-test outcomes and timings, for scoreboards and CI."""
    report = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "done": sum(s.state == PASSED for s in found),
        "total": len(found),
        "katas": [
            {
                "kata": s.kata.name,
                "title": s.kata.meta()[0],
                "track": s.kata.meta()[1],
                "state": s.state,
                "detail": s.detail,
                "tests": [
                    {k: v for k, v in asdict(o).items() if k not in ("kata", "text")}
                    for o in s.outcomes
                ],
            }
            for s in found
        ],
    }
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")


def unlocked(kata: Kata) -> int:
    """The follow-up stage the learner unlocked for this kata (1: the base kata)."""
    return int(load().get("stages", {}).get(kata.name, 1))


def unlock(kata: Kata, stage: int) -> None:
    """Unlock a follow-up stage: its tests join the kata's runs; print what it asks."""
    if not 1 <= stage <= kata.stages():
        raise KataError(f"{kata.name} has stages 1 to {kata.stages()}, not {stage}")
    state = load()
    state.setdefault("stages", {})[kata.name] = stage
    save(state)
    if stage > 1:
        briefs = kata.stage_briefs()
        summary, text = briefs[stage - 2] if len(briefs) >= stage - 1 else (f"Stage {stage}", "")
        print(f"{summary}\n\n{text}\n".replace("\n\n\n", "\n"))


def run_one(name: str, brief: bool = False, stage: int | None = None) -> int:
    """One kata's tests: a line per test (unless brief), then the first failure in full."""
    kata = find(name)
    if stage is not None:
        unlock(kata, stage)
    if missing := kata.missing():
        raise KataError(
            f"{kata.name} is missing {', '.join(missing)}: `git checkout -- "
            f"{kata.folder.relative_to(REPO)}` restores it"
        )
    if error := kata.syntax_error():
        raise KataError(f"syntax error at {error}")
    status = status_of(kata, run_katas([kata]).get(kata.name, []))
    record(kata, status)
    if status.state == BROKEN:
        raise KataError(f"{kata.name}: {status.detail}")
    failed = [o for o in status.outcomes if o.outcome != "passed"]
    passed = len(status.outcomes) - len(failed)
    if not brief:
        print(f"{kata.meta()[0]}\n")
        for o in status.outcomes:
            print(f"  {'PASS' if o.outcome == 'passed' else 'FAIL'}  {o.test or o.reason}")
        print()
    if failed:
        print(
            f"FAIL {failed[0].test} ({passed} of {len(status.outcomes)} tests pass)\n\n"
            f"{failed[0].text.rstrip()}\n"
        )
        if not brief:
            print(
                f"Edit {kata.stub.relative_to(REPO)} and run "
                f"`python3 -m nox -s kata -- {kata.number}` again."
            )
        return 1
    current = unlocked(kata)
    if current < kata.stages():
        print(
            f"PASS all {passed} tests of stage {current}. Stage {current + 1} changes the "
            f"requirements: `python3 -m nox -s kata -- {kata.number} --stage {current + 1}`."
        )
        return 0
    print(f"PASS all {passed} tests: {kata.name} is done.")
    return 0


def hint(name: str) -> int:
    """Reveal the next hint of the kata's current stage, one at a time, remembering how many."""
    kata = find(name)
    stage = unlocked(kata)
    hints = kata.hints(stage)
    if not hints:
        raise KataError(f"{kata.name} has no hints for stage {stage} in {kata.hints_file.name}")
    state = load()
    seen = state.setdefault("hints", {}).get(kata.name, {})
    seen = {"1": seen} if isinstance(seen, int) else seen  # an older state kept one count
    shown = int(seen.get(str(stage), 0))
    if shown >= len(hints):
        print(f"All {len(hints)} hints are shown; here is the last one again.")
        shown = len(hints) - 1
    label = f"Stage {stage}, hint" if stage > 1 else "Hint"
    print(f"{label} {shown + 1} of {len(hints)} for {kata.name}:\n\n{hints[shown]}\n")
    seen[str(stage)] = shown + 1
    state["hints"][kata.name] = seen
    save(state)
    if shown + 1 < len(hints):
        print(f"Still stuck? `python3 -m nox -s hint -- {kata.number}` shows the next one.")
    else:
        print(
            f"That was the last hint. `python3 -m nox -s solution -- {kata.number}` shows the "
            "answer (a spoiler)."
        )
    return 0


def reset(name: str, yes: bool) -> int:
    """Restore a kata's stub, after a confirmation, saving the learner's file first."""
    kata = find(name)
    original = kata.original_stub()
    where = kata.stub.relative_to(REPO)
    current = kata.stub.read_bytes() if kata.stub.is_file() else None
    if current == original:
        print(f"{where} is already the original stub: nothing to reset.")
        return 0
    if not yes:
        if not sys.stdin.isatty():
            raise KataError(
                f"reset replaces {where}: confirm with "
                f"`python3 -m nox -s reset -- {kata.number} --yes`"
            )
        answer = input(
            f"Replace {where} with the original stub? Your version is kept in "
            ".katas/backups/. [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print(f"Nothing changed: {where} is as you left it.")
            return 1
    backup = None
    if current is not None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = FOLDER / "backups" / kata.name / f"{kata.slug}-{stamp}.py"
        backup.parent.mkdir(parents=True, exist_ok=True)
        backup.write_bytes(current)
    temporary = kata.stub.with_suffix(".reset-tmp")
    temporary.write_bytes(original)
    os.replace(temporary, kata.stub)
    saved = f"; your version is saved as {backup.relative_to(REPO)}" if backup else ""
    print(f"Restored the original {where}{saved}.")
    return 0


def solution(name: str) -> int:
    """Show the reference solution as a diff against the stub (a spoiler, on request only)."""
    kata = find(name)
    if not kata.reference.is_file():
        raise KataError(
            f"no reference solution here ({kata.reference.relative_to(REPO)}): "
            "the practice branch has none; see the solutions branch"
        )
    stub = kata.original_stub().decode("utf-8").splitlines(keepends=True)
    reference = kata.reference.read_text(encoding="utf-8").splitlines(keepends=True)
    print(f"Spoiler: the reference solution of {kata.name}, as a diff against the stub.\n")
    sys.stdout.writelines(
        difflib.unified_diff(
            stub, reference, str(kata.stub.relative_to(REPO)), str(kata.reference.relative_to(REPO))
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="katas", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    board = commands.add_parser("practice", help="every kata's state and the next one to do")
    board.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    board.add_argument("--all", action="store_true", help="rerun every kata, changed or not")
    for command, text in [
        ("kata", "run one kata's tests"),
        ("hint", "reveal the next hint of a kata"),
        ("reset", "restore a kata's original stub (after a backup)"),
        ("solution", "show a kata's reference solution as a diff (spoiler)"),
    ]:
        sub = commands.add_parser(command, help=text)
        sub.add_argument("name", help="a kata's number or name, e.g. 04 or gather")
        if command == "reset":
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        if command == "kata":
            sub.add_argument("--brief", action="store_true", help="only the first failure")
            sub.add_argument("--stage", type=int, help="unlock and run up to this follow-up stage")
    args = parser.parse_args(argv)
    try:
        if args.command == "practice":
            return practice(args.json, args.all)
        if args.command == "kata":
            return run_one(args.name, args.brief, args.stage)
        if args.command == "hint":
            return hint(args.name)
        if args.command == "reset":
            return reset(args.name, args.yes)
        return solution(args.name)
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: nothing was changed", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the output went to `head` or a closed pager
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
