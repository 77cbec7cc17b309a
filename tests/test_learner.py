"""The learner's commands, run as a learner would, in a throw-away copy of the repository."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from katas._tools.catalog import find

GATHER, FIRST = find("gather"), find("first_coroutine")
pytestmark = pytest.mark.needs_solutions  # solved katas are played with the references


def learner(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "katas._tools.learner", *args],
        cwd=root,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_practice_shows_each_state_and_the_next_kata_and_writes_json(repo: Path) -> None:
    done = learner(repo, "practice", "--json", "out.json")
    assert done.returncode == 0, done.stderr
    assert "1 of 2 katas done" in done.stdout
    assert re.search(r"01 first_coroutine +passed\n", done.stdout), done.stdout
    assert re.search(r"04 gather +not started\n", done.stdout), done.stdout
    assert "Next: 04_gather" in done.stdout and "nox -s kata -- 04" in done.stdout
    report = json.loads((repo / "out.json").read_text())
    assert (report["done"], report["total"]) == (1, 2)
    first, gather = report["katas"]
    assert first["state"] == "passed" and first["tests"]
    assert all(t["outcome"] == "passed" and t["duration"] >= 0 for t in first["tests"])
    assert gather["state"] == "not started"  # its untouched stub is known to fail: not run


def test_practice_names_a_failing_test_and_a_syntax_error_while_others_report(repo: Path) -> None:
    stub = repo / "katas" / FIRST.name / FIRST.stub.name
    stub.write_text(stub.read_text().replace('f"Hello, {name}!"', 'f"Hi {name}"'))
    (repo / "katas" / GATHER.name / GATHER.stub.name).write_text("async def task(:\n")
    done = learner(repo, "practice")
    assert re.search(r"01 first_coroutine +failing +test_\w+: ", done.stdout), done.stdout
    assert "syntax error at katas/04_gather/gather.py:1" in done.stdout, done.stdout


def test_kata_runs_one_kata_and_refuses_unknown_names_in_one_line(repo: Path) -> None:
    done = learner(repo, "kata", "4")
    assert done.returncode == 1
    assert "FAIL  test_three_tasks_finish_in_about_the_longest_delay" in done.stdout
    assert "NotImplementedError: write task()" in done.stdout
    unknown = learner(repo, "kata", "99")
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "error: unknown kata '99': choose one of 01_first_coroutine, 04_gather\n"
    )


def test_hints_come_one_at_a_time_and_are_remembered(repo: Path) -> None:
    first, second = learner(repo, "hint", "04"), learner(repo, "hint", "gather")
    assert first.stdout.startswith("Hint 1 of 3 for 04_gather:")
    assert second.stdout.startswith("Hint 2 of 3 for 04_gather:")
    state = json.loads((repo / ".katas" / "state.json").read_text())
    assert state == {"hints": {"04_gather": {"1": 2}}}
    (repo / ".katas" / "state.json").write_text("{not json")
    again = learner(repo, "hint", "04")
    assert again.returncode == 0
    assert again.stdout.startswith("Hint 1 of 3")
    assert "state.json was unreadable" in again.stderr
    assert (repo / ".katas" / "state.corrupt").read_text() == "{not json"


def test_reset_needs_a_confirmation_and_keeps_a_backup(repo: Path) -> None:
    stub = repo / "katas" / FIRST.name / FIRST.stub.name
    mine = stub.read_text()
    refused = learner(repo, "reset", "01")
    assert refused.returncode == 2
    assert "confirm with `python3 -m nox -s reset -- 01 --yes`" in refused.stderr
    assert stub.read_text() == mine
    done = learner(repo, "reset", "01", "--yes")
    assert done.returncode == 0, done.stderr
    assert stub.read_text() == FIRST.stub.read_text()
    backups = list((repo / ".katas" / "backups" / FIRST.name).iterdir())
    assert [b.read_text() for b in backups] == [mine]
    assert str(backups[0].relative_to(repo)) in done.stdout
    assert "already the original stub" in learner(repo, "reset", "01", "--yes").stdout


def test_solution_is_a_diff_against_the_stub(repo: Path) -> None:
    done = learner(repo, "solution", "04")
    assert done.stdout.startswith("Spoiler")
    assert "-    raise NotImplementedError" in done.stdout
    assert "+    return await asyncio.gather(" in done.stdout


def test_watch_reruns_on_save_and_moves_on_when_the_kata_passes(repo: Path) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-u", "-m", "katas._tools.watch", "04"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "KATA_WATCH_POLL": "1"},
    )
    assert watcher.stdout is not None
    try:
        lines = []
        for line in watcher.stdout:
            lines.append(line)
            if line.startswith("FAIL"):
                break
        stub = repo / "katas" / GATHER.name / GATHER.stub.name
        temporary = stub.with_suffix(".tmp")  # as editors do: write aside, then replace
        shutil.copy(GATHER.reference, temporary)
        os.replace(temporary, stub)
        for line in watcher.stdout:
            lines.append(line)
            if line.startswith("That was the last kata"):
                break
        assert re.search(r"PASS all \d+ tests of stage 1\.", "".join(lines))
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=10)
        watcher.stdout.close()


def test_a_follow_up_stage_stays_out_until_unlocked(repo: Path) -> None:
    # Kata 04's stage 2 ("now some tasks fail"), met by an answer that only solves stage 1.
    stage_one_only = next(d for d in GATHER.decoys if d.stem == "raises_the_first_error")
    shutil.copy(stage_one_only, repo / "katas" / GATHER.name / GATHER.stub.name)
    base = learner(repo, "kata", "04")
    assert base.returncode == 0, base.stdout
    assert re.search(r"PASS all \d+ tests of stage 1", base.stdout), base.stdout
    assert "`python3 -m nox -s kata -- 04 --stage 2`" in base.stdout
    view = learner(repo, "practice").stdout
    assert re.search(r"04 gather +passed +stage 1 passed, stage 2 locked", view), view
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "katas/04_gather"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert re.search(r"\d+ passed, \d+ deselected", plain.stdout), plain.stdout
    staged = learner(repo, "kata", "04", "--stage", "2")
    assert staged.returncode == 1
    assert staged.stdout.startswith(GATHER.stage_briefs()[0][0] + "\n\n")
    assert "FAIL  test_a_failed_task_leaves_its_error_in_its_place" in staged.stdout
    assert "has stages 1 to 2, not 3" in learner(repo, "kata", "04", "--stage", "3").stderr
    shutil.copy(GATHER.reference, repo / "katas" / GATHER.name / GATHER.stub.name)
    assert re.search(r"04 gather +passed +stage 2 of 2\n", learner(repo, "practice").stdout)


def test_the_progress_view_reruns_only_the_katas_that_changed(repo: Path) -> None:
    first = learner(repo, "practice")
    assert "Ran the tests of 1 kata " in first.stdout, first.stdout  # 04's stub is untouched
    again = learner(repo, "practice")
    assert "Ran the tests of 0 katas" in again.stdout, again.stdout
    assert re.search(r"01 first_coroutine +passed\n", again.stdout), again.stdout
    stub = repo / "katas" / FIRST.name / FIRST.stub.name
    stub.write_text(stub.read_text().replace('f"Hello, {name}!"', 'f"Hi {name}"'))
    edited = learner(repo, "practice")
    assert "Ran the tests of 1 kata " in edited.stdout
    assert re.search(r"01 first_coroutine +failing", edited.stdout), edited.stdout
    # The kata command keeps its result too: the view needs no run after it.
    assert learner(repo, "kata", "01").returncode == 1
    assert "Ran the tests of 0 katas" in learner(repo, "practice").stdout
    # A changed harness or test file makes the result stale: it runs again.
    conftest = repo / "katas" / "conftest.py"
    conftest.write_text(conftest.read_text() + "\n# edited\n")
    assert "Ran the tests of 1 kata " in learner(repo, "practice").stdout
    assert "Ran the tests of 2 katas" in learner(repo, "practice", "--all").stdout


def test_a_result_not_rerun_shows_as_stale(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from katas._tools import learner as tools
    from katas._tools import record
    from katas._tools.catalog import all_katas

    monkeypatch.setattr(record, "RECORD", repo / ".katas" / "results.json")
    monkeypatch.setattr(tools, "load", dict)  # no stage unlocked
    kept = {"fingerprint": "of older files", "state": "passed", "detail": "", "tests": []}
    record.save_results({FIRST.name: kept})

    def interrupted(katas: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tools, "run_katas", interrupted)
    first, gather = tools.statuses(all_katas(repo))
    assert (first.state, first.stale) == ("passed", True)
    assert "passed (stale)" in first.line()
    assert (gather.state, gather.stale) == ("not started", False)


def test_a_stage_has_hints_of_its_own(repo: Path) -> None:
    assert learner(repo, "kata", "04", "--stage", "2").returncode == 1
    shown = learner(repo, "hint", "04")
    assert shown.stdout.startswith("Stage 2, hint 1 of 1 for 04_gather:"), shown.stdout
    assert shown.stdout.split("\n")[2] == GATHER.hints(2)[0].splitlines()[0]
    assert "That was the last hint." in shown.stdout
