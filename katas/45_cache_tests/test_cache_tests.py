"""Your tests for LoadingCache, graded: they pass on the working cache and catch its bugs.

Your tests (cache_tests.py) run on the working LoadingCache, then on each broken version of it,
in a fresh pytest each: a test catches a bug when it passes on the working cache and fails on
the broken one. The broken versions live apart (katas/_bugs/): find the bugs from the docstring.
The `grade` fixture (katas/conftest.py) runs them once for the module's GRADER.
"""

import pytest
from harness import Bug, Grade, Grader

GRADER = Grader(
    __file__, tests="cache_tests.py", component="loading_cache", shown_as="LoadingCache"
)
pytestmark = pytest.mark.timeout(120)


def test_your_tests_pass_on_the_working_cache(grade: Grade) -> None:
    grade.expect_all_pass()


def test_your_tests_never_wait_on_the_real_clock(grade: Grade) -> None:
    grade.expect_no_real_waits(
        "LoadingCache(load, ttl=..., clock=...) reads the time from `clock`: hand it a clock "
        "your test moves, and let no real time pass."
    )


@pytest.mark.parametrize("bug", GRADER.bugs, ids=str)
def test_your_tests_catch(grade: Grade, bug: Bug) -> None:
    grade.expect_caught(bug)
