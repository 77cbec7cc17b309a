"""The learner's local state: hints shown, stages unlocked, backups. One git-ignored JSON file.

Written atomically (a temporary file, then os.replace), so an interrupted write never leaves a
half file; an unreadable file is set aside, named in one line, and replaced by a fresh one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from katas._tools.catalog import REPO

FOLDER = REPO / ".katas"
FILE = FOLDER / "state.json"


def load(path: Path = FILE) -> dict[str, Any]:
    """The saved state, or a fresh one when there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        aside = path.with_suffix(".corrupt")
        os.replace(path, aside)
        print(
            f"note: {path.name} was unreadable ({error}); set aside as {aside}, starting afresh",
            file=sys.stderr,
        )
        return {}


def save(state: dict[str, Any], path: Path = FILE) -> None:
    """Write the state atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(state, file, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
