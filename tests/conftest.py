import shutil
import subprocess
from pathlib import Path

import pytest
from sandbox import build

from katas._tools.catalog import REPO, find

HERE = Path(__file__).parent
SOLUTIONS = HERE.parent / "solutions"


def pytest_report_header() -> str | None:
    if not SOLUTIONS.is_dir():
        return "practice branch: no solutions/ and no decoys, so the tests about them are not run"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # The repository's own tests run whole pytest sessions in subprocesses: give them room.
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120))
    # The practice branch ships without solutions/ and decoys (no spoilers): nothing to prove.
    if not SOLUTIONS.is_dir():
        about_solutions = [i for i in items if i.get_closest_marker("needs_solutions")]
        config.hook.pytest_deselected(items=about_solutions)
        items[:] = [i for i in items if i not in about_solutions]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git clone-like sandbox with two katas: 01 solved, 04 untouched."""
    first, gather = find("first_coroutine"), find("gather")
    root = build(tmp_path, gather)
    shutil.copytree(first.folder, root / "katas" / first.name)
    for kata in (first, gather):
        (root / "solutions" / kata.name).mkdir(parents=True)
        shutil.copy(kata.reference, root / "solutions" / kata.name)
    shutil.copy(REPO / "README.md", root)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "katas"], check=True)
    shutil.copy(first.reference, root / "katas" / first.name / first.stub.name)
    return root
