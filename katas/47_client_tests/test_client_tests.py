"""Your tests for UsersClient, graded: they pass on the working client and catch its bugs.

Your tests (client_tests.py) run on the working UsersClient, then on each broken version of it,
in a fresh pytest each: a test catches a bug when it passes on the working client and fails on
the broken one. The broken versions live apart (katas/_bugs/): find the bugs from the docstring.
The `grade` fixture (katas/conftest.py) runs them once for the module's GRADER.
Your tests come in two kinds, told apart by their names: test_with_a_mock_... and
test_with_a_server_...; each kind must catch something.
"""

import pytest
from harness import Bug, Grade, Grader, fail

GRADER = Grader(__file__, tests="client_tests.py", component="users_api", shown_as="UsersClient")
pytestmark = pytest.mark.timeout(120)
KINDS = {
    "mock": (
        "test_with_a_mock_",
        "A mock session stages in one line what a server shows only by letting real time "
        "pass, a timeout, and any other failure a session can raise, at the exact call you "
        "choose, with no network at all.",
    ),
    "server": (
        "test_with_a_server_",
        "A real server answers the way HTTP does: a wrong path, a wrong method or a body it "
        "cannot read gets the error a real service answers, without a single assertion of "
        "yours about the call; and its error answers have the bodies real ones have.",
    ),
}


def test_your_tests_pass_on_the_working_client(grade: Grade) -> None:
    grade.expect_all_pass()


def test_your_tests_never_wait_on_the_real_clock(grade: Grade) -> None:
    grade.expect_no_real_waits(
        "Nothing in UsersClient waits by itself: a mock answers at once, and a server's "
        "handler answers as soon as it is called. A timeout is the one failure a real "
        "server shows only by letting time pass; let a mock raise it instead."
    )


def test_you_test_with_a_mock_and_with_a_server(grade: Grade) -> None:
    """Both kinds of tests are there, and each catches at least one broken version."""
    grade.expect_something_to_grade()
    caught = {kind: caught_by(grade, prefix) for kind, (prefix, _) in KINDS.items()}
    total = len(grade.bugs)
    problems = []
    for kind, (prefix, sees) in KINDS.items():
        named = [test for test in grade.working if test.startswith(prefix)]
        if not named:
            problems.append(f"You have no {kind} test: no test is named {prefix}... {sees}")
        elif not any(test.startswith(prefix) for test in grade.passing()):
            problems.append(
                f"None of your {kind} tests ({prefix}...) passes on the working UsersClient, "
                "so none of them can catch a bug."
            )
        elif not caught[kind]:
            problems.append(
                f"Your {kind} tests ({prefix}...) pass on every broken version: they catch "
                f"nothing. {sees}"
            )
    if problems:
        fail(
            f"Your mock tests caught {len(caught['mock'])} of {total} broken versions of "
            f"UsersClient, your server tests {len(caught['server'])} of {total}.\n"
            + "\n".join(problems)
        )


@pytest.mark.parametrize("bug", GRADER.bugs, ids=str)
def test_your_tests_catch(grade: Grade, bug: Bug) -> None:
    grade.expect_caught(bug)


def caught_by(grade: Grade, prefix: str) -> list[Bug]:
    """The broken versions that at least one test named `prefix...` catches."""
    return [bug for bug in grade.bugs if any(t.startswith(prefix) for t in grade.catchers(bug))]
