"""The dojo timer and the interview practice, driven as a group or a candidate would."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from katas._tools.catalog import find

GATHER = find("gather")
pytestmark = pytest.mark.needs_solutions  # a green run is played with the reference


def start(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "katas._tools.sessions", *args],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def solve(repo: Path) -> None:
    shutil.copy(GATHER.reference, repo / "katas" / GATHER.name / GATHER.stub.name)


def test_the_dojo_rotates_with_the_verdict_until_green(repo: Path) -> None:
    dojo = start(repo, "dojo", "04", "--minutes", "0.02")  # a rotation every 1.2 s
    assert dojo.stdout is not None
    first = ""
    while "ROTATE" not in first:
        first = dojo.stdout.readline()
    found = re.search(
        r"ROTATE \(1\): next driver, please. 0/(\d+) tests pass; first failing: test_", first
    )
    assert found, first
    solve(repo)
    out, _ = dojo.communicate(timeout=30)
    assert f"{found[1]}/{found[1]} tests pass" in out
    assert "All green! Retrospective" in out
    assert dojo.returncode == 0


def test_an_interview_runs_on_demand_and_saves_a_summary(repo: Path) -> None:
    candidate = start(repo, "interview", "gather", "--minutes", "5")
    assert candidate.stdin is not None and candidate.stdout is not None
    candidate.stdin.write("\n")
    candidate.stdin.flush()
    line = ""
    while not line.startswith("[00:"):
        line = candidate.stdout.readline()
    found = re.search(r"stage 1: 0/(\d+) pass; first failing:", line)
    assert found, line
    solve(repo)
    out, err = candidate.communicate("\n\n", timeout=60)  # stage 1, then the follow-up
    assert f"stage 1: {found[1]}/{found[1]} pass" in out, out + err
    assert "The interviewer has a follow-up:\n\nStage 2:" in out
    assert "Interview over (every stage green): 3 test runs, reached stage 2 of 2" in out
    saved = next((repo / ".katas" / "interviews").glob("*-04_gather.json"))
    record = json.loads(saved.read_text())
    assert (record["kata"], record["runs"], record["ended"]) == (
        "04_gather",
        3,
        "every stage green",
    )
    assert 0 < record["green_after"]["1"] <= record["green_after"]["2"] < 60
    assert candidate.returncode == 0


def test_the_interview_ends_when_time_is_up(repo: Path) -> None:
    started = time.monotonic()
    candidate = start(repo, "interview", "04", "--minutes", "0.02")
    candidate.wait(timeout=30)  # stdin stays open: the clock alone ends it
    assert candidate.stdout is not None
    out = candidate.stdout.read()
    assert "Interview over (time is up): 0 test runs" in out
    assert "The brief" not in out and "Hint 1" not in out  # hints are not part of the brief
    assert time.monotonic() - started < 15
    assert candidate.returncode == 1
    for stream in (candidate.stdin, candidate.stdout, candidate.stderr):
        assert stream is not None
        stream.close()


def test_an_unknown_kata_is_one_line(repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "katas._tools.sessions", "dojo", "77"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown kata '77'") and done.stderr.count("\n") == 1
