"""Where the local stack lives: the checkout, and the state file a running ``smsbridge serve`` writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LOCAL_STATE = Path(".smsbridge") / "local.json"  # under the checkout; ignored by git


def project_root() -> Path:
    """The checkout this package lives in (``layers/smsbridge/smsbridge`` → the folder holding template.yaml)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").is_file() and (parent / "functions").is_dir():
            return parent
    return Path.cwd()


def read_state(state_file: Path) -> dict[str, Any] | None:
    """What a ``smsbridge serve`` wrote to ``state_file`` (None if there is no such file or it is not JSON)."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def process_alive(pid: object) -> bool:
    """True while the process ``pid`` runs (on this machine)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def running_state(state_file: Path | None = None) -> dict[str, Any] | None:
    """The state of the local stack that is running now (``state_file``, default the checkout's), or None."""
    state = read_state(state_file or project_root() / LOCAL_STATE)
    return state if state is not None and process_alive(state.get("pid")) else None
