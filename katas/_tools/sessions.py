"""Group and interview workflows: a dojo rotation timer and a timed interview practice.

`nox -s dojo -- 04 --minutes 5`: every 5 minutes says "rotate" and shows the tests' verdict.
`nox -s interview -- 13 --minutes 30`: the brief, a clock, tests on demand, the follow-up stage
once the base passes, and a summary (text, and JSON for a scoreboard).
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from katas._tools.catalog import REPO, Kata, KataError, find
from katas._tools.learner import unlock
from katas._tools.record import load_record
from katas._tools.state import FOLDER


@dataclass
class Verdict:
    passed: int
    total: int
    first_failure: str  # "test_name: reason", or "" when green

    @property
    def green(self) -> bool:
        return self.total > 0 and self.passed == self.total


def verdict(kata: Kata) -> Verdict:
    """Run the kata's unlocked tests in a fresh process; read their outcome from the record."""
    done = subprocess.run(
        [sys.executable, "-m", "katas._tools.learner", "kata", kata.name, "--brief"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    kept = load_record().get(kata.name)
    if done.returncode == 2 or kept is None:
        problem = (done.stderr or done.stdout).strip().splitlines()
        return Verdict(0, 0, problem[-1] if problem else "the tests did not run")
    tests = kept["tests"]
    passed = sum(test["outcome"] == "passed" for test in tests)
    failed = [f"{t['test'] or 'import'}: {t['reason']}" for t in tests if t["outcome"] != "passed"]
    return Verdict(passed, len(tests), failed[0][:160] if failed else "")


def clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def dojo(kata: Kata, minutes: float) -> int:
    """Rotate driver and navigator every `minutes`, with the test verdict at each rotation."""
    print(
        f"Dojo: {kata.meta()[0]}\n  brief  {kata.readme.relative_to(REPO)}\n"
        f"  code   {kata.stub.relative_to(REPO)}\n"
        f"The driver types, the navigator thinks aloud; rotate every {minutes:g} min. "
        "Ctrl-C ends the session."
    )
    start, rotation = time.monotonic(), 0
    while True:
        time.sleep(minutes * 60)
        rotation += 1
        result = verdict(kata)
        status = f"{result.passed}/{result.total} tests pass"
        print(
            f"\n[{clock(time.monotonic() - start)}] ROTATE ({rotation}): next driver, please. "
            f"{status}" + (f"; first failing: {result.first_failure}" if not result.green else ""),
            flush=True,
        )
        if result.green:
            print("All green! Retrospective: what did we learn, what would we do differently?")
            return 0


@dataclass
class Interview:
    kata: str
    minutes: float
    started: float = field(default_factory=time.time)
    runs: int = 0
    stage: int = 1
    green_after: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    ended: str = ""


def brief(kata: Kata) -> str:
    """The README without its follow-up stages (the interviewer's surprise): the candidate's."""
    text = kata.readme.read_text(encoding="utf-8")
    return re.sub(r"<details>\s*<summary>Stage.*?</details>\s*", "", text, flags=re.S).strip()


def interview(kata: Kata, minutes: float) -> int:
    """A timed practice interview; returns 0 when every stage went green in time."""
    unlock(kata, 1)
    run = Interview(kata.name, minutes)
    print(
        f"{brief(kata)}\n\n--- Interview: {minutes:g} minutes from now. Edit "
        f"{kata.stub.relative_to(REPO)}; press Enter to run the tests, q then Enter to stop."
    )
    begin = time.monotonic()
    lines = keyboard()
    try:
        while True:
            left = minutes * 60 - (time.monotonic() - begin)
            try:
                line = lines.get(timeout=max(left, 0))
            except queue.Empty:
                run.ended = "time is up"
                break
            if line is None or line.strip().lower() == "q":
                run.ended = "stopped" if line is not None else "input closed"
                break
            run.runs += 1
            result = verdict(kata)
            elapsed = time.monotonic() - begin
            print(
                f"[{clock(elapsed)}] stage {run.stage}: {result.passed}/{result.total} pass"
                + (f"; first failing: {result.first_failure}" if not result.green else "")
            )
            if result.green:
                run.green_after[str(run.stage)] = round(elapsed, 1)
                if run.stage == kata.stages():
                    run.ended = "every stage green"
                    break
                run.stage += 1
                print("\nGreen! The interviewer has a follow-up:\n")
                unlock(kata, run.stage)
    except KeyboardInterrupt:
        run.ended = "interrupted"
    return summary(kata, run)


def keyboard() -> queue.Queue[str | None]:
    """Lines typed on stdin, read by a thread so the clock can end the interview meanwhile."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line)
        lines.put(None)  # stdin closed

    threading.Thread(target=read, daemon=True).start()
    return lines


def summary(kata: Kata, run: Interview) -> int:
    path = FOLDER / "interviews" / f"{time.strftime('%Y%m%d-%H%M%S')}-{kata.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(run), indent=1), encoding="utf-8")
    greens = ", ".join(f"stage {s} green at {clock(t)}" for s, t in run.green_after.items())
    print(
        f"\nInterview over ({run.ended}): {run.runs} test runs, reached stage {run.stage} of "
        f"{kata.stages()}; {greens or 'no stage green'}.\nSaved for the scoreboard: "
        f"{path.relative_to(REPO)}"
    )
    return 0 if run.ended == "every stage green" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="katas", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["dojo", "interview"])
    parser.add_argument("name", help="a kata's number or name, e.g. 04 or gather")
    parser.add_argument("--minutes", type=float, help="rotation (dojo) or total (interview) time")
    args = parser.parse_args(argv)
    try:
        kata = find(args.name)
        if args.mode == "dojo":
            return dojo(kata, args.minutes or 5)
        return interview(kata, args.minutes or 30)
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsession ended.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
