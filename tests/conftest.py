from pathlib import Path

import pytest

HERE = Path(__file__).parent
SOLUTIONS = HERE.parent / "solutions"


def pytest_report_header() -> str | None:
    if not SOLUTIONS.is_dir():
        return "practice branch: no solutions/, so the tests about reference solutions are not run"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # The repository's own tests run whole pytest sessions in subprocesses: give them room.
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120))
    # The practice branch ships without solutions/ (no spoilers): nothing there to prove.
    if not SOLUTIONS.is_dir():
        about_solutions = [i for i in items if i.get_closest_marker("needs_solutions")]
        config.hook.pytest_deselected(items=about_solutions)
        items[:] = [i for i in items if i not in about_solutions]
