"""The kata harness: what every kata test measures with, in one place.

- `_harness/timeline.py`: fake work that keeps a timeline, order probes, wall-clock checks;
- `_harness/probes.py`: generic checks any kata switches on in a line: polling (wake-ups
  counted), the tasks a call started and whether a cancelled (or failing) caller left any of
  them running, and where a suspended task waits (its await chain);
- `_harness/outcomes.py`: wait for what a test started and say what became of it;
- `_harness/grading.py`: for the katas where the learner writes the tests: run them on the
  working component and on each broken version (katas/_bugs/), and say which bugs they caught;
- `_harness/spies.py`: stand-ins where the learner's module looks (what it creates, calls,
  reads: `swap_in`, `instances_made`, `wall_clock`) and a clock the test moves (`FakeClock`).

Kata tests import from here plainly (`from harness import Timeline, scaled`); conftest.py beside
the katas adds the guard every test runs in (deadline, blocked loop, leftovers).
"""

from _harness.grading import Bug, Grade, Grader
from _harness.outcomes import (
    fail,
    listed,
    loop_turns,
    outcome,
    outcomes,
    patiently,
    raised,
    settle,
    still_running,
    were,
)
from _harness.probes import (
    Ran,
    StartedTasks,
    Wakeups,
    awaiting,
    cancel_midway,
    collect_garbage,
    left_running_after,
    started_tasks,
    task_origins,
    waiting_at,
)
from _harness.spies import FakeClock, WallClock, instances_made, swap_in, wall_clock
from _harness.timeline import (
    EARLY,
    JITTER,
    LIVE,
    MARGIN,
    TIME_SCALE,
    TIME_SCALE_PROBLEM,
    Span,
    Timeline,
    as_scheduled,
    scaled,
)

__all__ = [
    "EARLY",
    "JITTER",
    "LIVE",
    "MARGIN",
    "TIME_SCALE",
    "TIME_SCALE_PROBLEM",
    "Bug",
    "FakeClock",
    "Grade",
    "Grader",
    "Ran",
    "Span",
    "StartedTasks",
    "Timeline",
    "Wakeups",
    "WallClock",
    "as_scheduled",
    "awaiting",
    "cancel_midway",
    "collect_garbage",
    "fail",
    "instances_made",
    "left_running_after",
    "listed",
    "loop_turns",
    "outcome",
    "outcomes",
    "patiently",
    "raised",
    "scaled",
    "settle",
    "started_tasks",
    "still_running",
    "swap_in",
    "task_origins",
    "waiting_at",
    "wall_clock",
    "were",
]
