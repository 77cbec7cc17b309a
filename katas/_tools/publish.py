"""Build the two published branches from the current commit, locally, without pushing.

- `practice`: the repository without solutions/ and tests/decoys/ (a decoy is a reference with
  one mistake), so a learner meets no spoiler;
- `solutions`: every kata's stub replaced by its reference solution, so every kata passes and
  `git diff practice solutions -- katas/04_gather` shows exactly that kata's answer.

Both are built in a temporary worktree: the working tree and its files are never touched, and a
dirty tree is refused (the branches must come from a commit).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from katas._tools.catalog import REPO, KataError, all_katas

AUTHOR = ["-c", "user.name=asyncio-katas publish", "-c", "user.email=publish@localhost"]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise KataError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def publish(root: Path = REPO) -> tuple[str, str]:
    """Build `practice` and `solutions` from HEAD; returns their commit ids."""
    if git("status", "--porcelain", "--untracked-files=no", cwd=root):
        raise KataError("the working tree has uncommitted changes: commit or stash them first")
    source = git("rev-parse", "--short", "HEAD", cwd=root)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "publish"
        git("worktree", "add", "--quiet", "--detach", str(tree), "HEAD", cwd=root)
        try:
            git("rm", "-r", "--quiet", "solutions", "tests/decoys", cwd=tree)
            git(
                *AUTHOR,
                "commit",
                "--quiet",
                "-m",
                f"practice: the katas without solutions or decoys (from {source})",
                cwd=tree,
            )
            practice = git("rev-parse", "HEAD", cwd=tree)
            git("checkout", "--quiet", "--detach", source, cwd=tree)
            for kata in all_katas(tree):
                shutil.copy(kata.reference, kata.stub)
            git("add", "katas", cwd=tree)
            git(
                *AUTHOR,
                "commit",
                "--quiet",
                "-m",
                f"solutions: every stub replaced by its reference solution (from {source})",
                cwd=tree,
            )
            solutions = git("rev-parse", "HEAD", cwd=tree)
        finally:
            git("worktree", "remove", "--force", str(tree), cwd=root)
    git("branch", "--force", "practice", practice, cwd=root)
    git("branch", "--force", "solutions", solutions, cwd=root)
    return practice, solutions


def main() -> int:
    try:
        practice, solutions = publish()
    except KataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"practice  {practice[:10]}  the katas, no solutions/ and no tests/decoys/")
    print(f"solutions {solutions[:10]}  every stub replaced by its reference")
    print("Compare one kata's answer: git diff practice solutions -- katas/04_gather")
    print("Nothing was pushed: `git push origin practice solutions` publishes them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
