"""Makes moto's DynamoDB serve one request at a time, as DynamoDB's own per-request atomicity guarantees.

moto applies a transaction by snapshotting whole tables and restores the snapshot when a condition fails; two
requests running at once can therefore undo each other, which the real service never does. The local stack and
the concurrency tests serialise DynamoDB requests (not clients: they still race between requests).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

_LOCK = threading.RLock()
_original_call_action = DynamoHandler.call_action


def _atomic_call_action(self: DynamoHandler) -> Any:
    with _LOCK:
        return _original_call_action(self)


def serialise_dynamodb_requests() -> None:
    """Install the lock (idempotent)."""
    DynamoHandler.call_action = _atomic_call_action  # type: ignore[method-assign]
