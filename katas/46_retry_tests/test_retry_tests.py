"""Your tests for retry, graded: they pass on the working retry and catch its bugs.

Your tests (retry_tests.py) run on the working retry, then on each broken version of it, in a
fresh pytest each: a test catches a bug when it passes on the working retry and fails on the
broken one. The broken versions live apart (katas/_bugs/): find the bugs from the docstring.
The `grade` fixture (katas/conftest.py) runs them once for the module's GRADER.
"""

import pytest
from harness import Bug, Grade, Grader

GRADER = Grader(__file__, tests="retry_tests.py", component="backoff", shown_as="retry")
pytestmark = pytest.mark.timeout(120)


def test_your_tests_pass_on_the_working_retry(grade: Grade) -> None:
    grade.expect_all_pass()


def test_your_tests_never_wait_on_the_real_clock(grade: Grade) -> None:
    grade.expect_no_real_waits(
        "retry(call, ..., sleep=..., rng=...) waits through its `sleep` argument, the real "
        "asyncio.sleep unless you pass one: pass a fake that records each delay and returns at "
        "once, and an `rng` whose draws you choose, then assert the exact delays."
    )


@pytest.mark.parametrize("bug", GRADER.bugs, ids=str)
def test_your_tests_catch(grade: Grade, bug: Bug) -> None:
    grade.expect_caught(bug)
