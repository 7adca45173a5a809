"""Where the local stack lives: the checkout, and the state file a running ``smsbridge serve`` writes."""

from __future__ import annotations

from pathlib import Path

LOCAL_STATE = Path(".smsbridge") / "local.json"  # under the checkout; ignored by git


def project_root() -> Path:
    """The checkout this package lives in (``layers/smsbridge/smsbridge`` → the folder holding template.yaml)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").is_file() and (parent / "functions").is_dir():
            return parent
    return Path.cwd()
