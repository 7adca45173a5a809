"""Chaos mode for the local stack (``smsbridge serve --chaos SEED``): AWS's at-least-once delivery made visible.

What it does, each at its own rate:

- ``duplicate_delivery``: an SQS batch is also handed, in part, to a second, concurrent invocation (SQS delivers
  at least once; copies arrive side by side).
- ``stream_redelivery``: a stream batch that succeeded comes again (its checkpoint was not kept).
- ``lost_answer``: CI360 accepted an event, and the invocation crashes or times out before the forwarder records
  it (at the boundary between the gateway port and what follows it), so Lambda retries the batch.
- ``throttle``: a DynamoDB write is refused with ``ProvisionedThroughputExceededException``.

Every decision is a function of the seed, the fault, what it applies to (message ids, a batch's sequence numbers,
an event id, a write's table and key) and how often that was decided before: the same run gives the same faults,
however the threads interleave. ``summary()`` says what was injected, and which events' CI360 answers were lost
(the only events CI360 may rightly receive twice).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smsbridge.domain.ci360_events import Flat
from smsbridge.domain.delivery import Outcome, Verdict
from smsbridge.errors import ConfigurationError
from smsbridge.local.event_sources import FunctionTimedOut
from smsbridge.ports import EventGateway


class InjectedCrash(BaseException):
    """The execution environment died (nothing in the handler can catch a crash, hence ``BaseException``)."""


@dataclass(frozen=True)
class ChaosRates:
    duplicate_delivery: float = 0.3
    stream_redelivery: float = 0.2
    lost_answer: float = 0.1
    throttle: float = 0.03


class Chaos:
    def __init__(self, seed: int, rates: ChaosRates | None = None) -> None:
        self.seed = seed
        self.rates = rates or ChaosRates()
        self._lock = threading.Lock()
        self._decided: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.ambiguous_events: set[str] = set()

    def _draw(self, fault: str, subject: str, rate: float) -> float | None:
        """A uniform number in [0, 1) when ``fault`` strikes ``subject`` this time, else None."""
        with self._lock:
            occurrence = self._decided[f"{fault}|{subject}"]
            self._decided[f"{fault}|{subject}"] += 1
        digest = hashlib.sha256(f"{self.seed}|{fault}|{subject}|{occurrence}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        if draw >= rate:
            return None
        with self._lock:
            self.injected[fault] += 1
        return draw / rate

    def duplicate_delivery(self, bodies: list[str]) -> set[str]:
        """The messages (by body) of a batch to hand to a second, concurrent invocation as well (none, mostly)."""
        digests = {hashlib.sha256(f"{self.seed}|{body}".encode()).hexdigest(): body for body in bodies}
        draw = self._draw("duplicate_delivery", "|".join(sorted(digests)), self.rates.duplicate_delivery)
        if draw is None or not bodies:
            return set()
        count = 1 + int(draw * len(digests))
        order = [digests[digest] for digest in sorted(digests)]
        with self._lock:
            self.injected["duplicated_messages"] += count
        return set(order[:count])

    def redeliver_stream_batch(self, batch: str) -> bool:
        return self._draw("stream_redelivery", batch, self.rates.stream_redelivery) is not None

    def throttles(self, action: str, identity: str) -> bool:
        return self._draw("throttle", f"{action}|{identity}", self.rates.throttle) is not None

    def after_answer(self, body: dict[str, Flat], verdict: Verdict) -> None:
        """Called with each CI360 answer: may end the invocation before the forwarder can record an acceptance."""
        if verdict.outcome is not Outcome.ACCEPTED:
            return
        event_id = str(body.get("event_id", ""))
        draw = self._draw("lost_answer", event_id, self.rates.lost_answer)
        if draw is None:
            return
        with self._lock:
            self.ambiguous_events.add(event_id)
            self.injected["crash_after_answer" if draw < 0.5 else "timeout_after_answer"] += 1
        if draw < 0.5:
            raise InjectedCrash(f"chaos: crashed after CI360 accepted {event_id}")
        raise FunctionTimedOut(f"chaos: timed out after CI360 accepted {event_id}")

    def instrument(self, forwarder: Any) -> None:
        """Put the lost-answer fault between the forwarder's gateway port and the forwarder."""
        source: Callable[[], EventGateway] | None = getattr(forwarder, "gateway", None)
        if source is None:
            raise ConfigurationError("chaos: the forwarder has no gateway port to wrap")
        forwarder.gateway = lambda: _AnswerLosingGateway(source(), self)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "injected": dict(sorted(self.injected.items())),
                "ambiguous_events": sorted(self.ambiguous_events),
            }

    def describe(self) -> str:
        """One console line: what was injected."""
        summary = self.summary()
        faults = ", ".join(f"{count} {name}" for name, count in summary["injected"].items()) or "nothing"
        return f"chaos (seed {self.seed}) injected: {faults}; summary {json.dumps(summary)}"


class _AnswerLosingGateway:
    def __init__(self, inner: EventGateway, chaos: Chaos) -> None:
        self.inner, self.chaos = inner, chaos

    def send(self, body: dict[str, Flat]) -> Verdict:
        verdict = self.inner.send(body)
        self.chaos.after_answer(body, verdict)
        return verdict
