"""Issue 20's mixed workload under chaos at a larger size than ``make test`` runs it: for each of five chaos seeds,
the drain time, STOP → CI360 p99 and consent-settle p99, and which parts of the property failed.

The loop and the workload are tests/integration/test_mixed_chaos.py's (``run_mixed``): the webhook and the forwarder
in process, moto's server, the template's event sources polling beside the webhooks, the CI360 stub, chaos with lost
answers at ``serve --chaos``'s rate (10 %). Its waits (batching windows, visibility timeouts, retry delays, leases)
are compressed ten times: the work itself (moto, one DynamoDB request at a time, 2 cores) is not. Figures are real
seconds, and real seconds divided by ``TIME_SCALE``: the deployed equivalent, an upper bound (the work counted ten
times over).
"""

from __future__ import annotations

from typing import Any

from tests.bench.bench_stop_latency import deployed_loop
from tests.integration.test_mixed_chaos import DEPLOYED_SETTLE_SECONDS, MIXED_LOST_ANSWER, MIXED_TIME_SCALE, run_mixed

SEEDS = (7, 11, 15, 23, 42)
TIME_SCALE = MIXED_TIME_SCALE  # as `make test` runs it
NUMBERS, QUICK_NUMBERS = 250, 3  # issue 20's full workload: 250 numbers, about 2,500 webhooks a seed
DRAIN_SECONDS = 900.0


def measure(numbers: int) -> list[dict[str, Any]]:
    """One run per seed, each on a fresh stack: its figures and the parts that failed."""
    runs = []
    for seed in SEEDS:
        with deployed_loop(
            seed, deployed=False, polling=False, time_scale=TIME_SCALE, lost_answer=MIXED_LOST_ANSWER
        ) as loop:
            failed, figures = run_mixed(loop, numbers, drain_timeout=DRAIN_SECONDS)
        runs.append({"seed": seed, **figures, "failed": sorted(failed)})
    return runs


def deployed(seconds: float | None) -> str:
    """Real seconds on the loop, and their deployed equivalent."""
    return "-" if seconds is None else f"{seconds:.1f} s ({seconds / TIME_SCALE:.0f} s)"


def report(runs: list[dict[str, Any]], numbers: int) -> list[str]:
    """The section of docs/benchmarks.md."""
    rows = [
        f"| {r['seed']} | {r['webhooks']} | {deployed(r['drain_s'])} | {deployed(r['stop_to_ci360_p99_s'])} | "
        f"{deployed(r['settle_own_p99_s'])} | {deployed(r['settle_after_last_webhook_s'])} | {r['two_copies']} | "
        f"{r['visibility_calls_per_parked']} | {', '.join(r['failed']) or 'none'} |"
        for r in runs
    ]
    return [
        "## The mixed workload under chaos, larger (issue 20)",
        "",
        f"tests/integration/test_mixed_chaos.py's workload at {numbers} numbers a seed (`make test` runs 10), lost",
        f"answers at {MIXED_LOST_ANSWER:.0%} (`serve --chaos`'s rate), the loop's waits compressed "
        f"{1 / TIME_SCALE:.0f} times; real seconds, and in brackets the",
        "deployed equivalent (real / scale: an upper bound, the work is not compressed). Drain: from the last webhook",
        "until nothing is left to forward. STOP → CI360: from a STOP's answer to CI360 accepting its opt-out. Settle:",
        "per number, from its last STOP or START until CI360's last consent event is the ledger's for good; after",
        f"the last webhook: the same for all numbers (issue 20's goal: {DEPLOYED_SETTLE_SECONDS:.0f} s deployed).",
        "Visibility calls: `ChangeMessageVisibilityBatch` calls per message parked on the retry queue.",
        "",
        "| seed | webhooks | drain | STOP → CI360 p99 | settle p99 | settle after the last webhook | 2 copies "
        "| visibility calls | failed parts |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
    ]


def run(quick: bool) -> list[str]:
    """``QUICK_NUMBERS`` numbers a seed quick (about a minute in all), else ``NUMBERS``, the issue's full size: about
    20 minutes for the five seeds on 2 cores."""
    numbers = QUICK_NUMBERS if quick else NUMBERS
    return report(measure(numbers), numbers)


if __name__ == "__main__":
    print("\n".join(run(True)))
