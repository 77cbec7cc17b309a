"""`python3 -m nox -s publish` builds the practice and solutions branches, on a temporary clone."""

import subprocess
import sys
from pathlib import Path

import pytest

from katas._tools.catalog import REPO, all_katas

pytestmark = pytest.mark.needs_solutions


def git(clone: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def publish(clone: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "katas._tools.publish"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(tmp_path)], check=True)
    return tmp_path


def test_both_branches_come_out_as_described_and_the_tree_is_untouched(clone: Path) -> None:
    (clone / "notes.txt").write_text("the learner's own notes")
    head, status = git(clone, "rev-parse", "HEAD"), git(clone, "status", "--porcelain")
    done = publish(clone)
    assert done.returncode == 0, done.stderr
    assert (git(clone, "rev-parse", "HEAD"), git(clone, "status", "--porcelain")) == (head, status)
    assert (clone / "notes.txt").read_text() == "the learner's own notes"
    assert git(clone, "worktree", "list").count("\n") == 0, "the temporary worktree is left"

    practice = git(clone, "ls-tree", "-r", "--name-only", "practice").splitlines()
    assert not [path for path in practice if path.startswith(("solutions/", "tests/decoys/"))]
    assert "tests/test_proofs.py" in practice
    assert "katas/04_gather/gather.py" in practice
    assert git(clone, "show", "practice:katas/04_gather/gather.py") == git(
        clone, "show", "HEAD:katas/04_gather/gather.py"
    )
    for kata in all_katas(clone):
        stub = f"katas/{kata.name}/{kata.stub.name}"
        assert git(clone, "show", f"solutions:{stub}") == git(
            clone, "show", f"HEAD:solutions/{kata.name}/{kata.stub.name}"
        ), f"{stub} on the solutions branch is not the reference"
    changed = git(clone, "diff", "--name-only", "practice", "solutions", "--", "katas/04_gather")
    assert changed == "katas/04_gather/gather.py"


def test_the_solutions_branch_passes_and_the_practice_branch_shows_the_way(
    clone: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert publish(clone).returncode == 0
    for branch in ("solutions", "practice"):
        tree = tmp_path_factory.mktemp(branch)
        git(clone, "worktree", "add", "--quiet", str(tree), branch)
    solved = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "katas/04_gather", "katas/06_dependencies"],
        cwd=tmp_path_factory.getbasetemp() / "solutions0",
        capture_output=True,
        text=True,
        check=False,
    )
    assert solved.returncode == 0, solved.stdout
    practice = subprocess.run(
        [sys.executable, "-m", "katas._tools.learner", "kata", "04"],
        cwd=tmp_path_factory.getbasetemp() / "practice0",
        capture_output=True,
        text=True,
        check=False,
    )
    assert "NotImplementedError" in practice.stdout, practice.stdout + practice.stderr


def test_a_dirty_tree_is_refused_in_one_line(clone: Path) -> None:
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")
    done = publish(clone)
    assert done.returncode == 2
    assert done.stderr == (
        "error: the working tree has uncommitted changes: commit or stash them first\n"
    )
    assert "practice" not in git(clone, "branch", "--list")
