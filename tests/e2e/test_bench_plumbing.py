"""`make bench`'s plumbing with tiny sizes: the local-stack load run ends with every event delivered once and
leaves no state file behind; `serve` stopped by SIGTERM (as `kill` or a bench does), or by SIGINT in a background
job, removes its own; a full run rewrites docs/benchmarks.md and keeps what was measured by hand below its marker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.bench import bench_cli, bench_load, run
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
STATE = ROOT / ".smsbridge" / "bench-local.json"


def test_a_tiny_load_run_delivers_everything_once_and_cleans_up() -> None:
    load = bench_load.run(4, 2, 1, 1, workers=2, wait=60)
    assert (load["lost"], load["duplicated"]) == (0, 0)
    assert load["received_events"] == load["expected_events"] > 0
    assert not STATE.exists()


def test_a_full_run_keeps_the_hand_measured_sections_of_the_page(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    assert run.kept_sections(page) == run.KEPT + "\n"  # no page yet: the marker alone
    page.write_text(f"# Benchmarks\nold figures\n\n{run.KEPT}\n\n## Before and after\n| a | b |\n", encoding="utf-8")
    assert run.kept_sections(page) == f"{run.KEPT}\n\n## Before and after\n| a | b |\n"
    page.write_text("# Benchmarks\nno marker: an old page\n", encoding="utf-8")
    assert run.kept_sections(page) == run.KEPT + "\n"


def test_the_help_timing_row_compares_with_a_baseline() -> None:
    [row] = bench_cli.run(rounds=1)
    assert row.value > 0 and row.baseline > 0 and row.unit == "ms"


@pytest.mark.parametrize(
    ("stop_signal", "ignored_at_start"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm", "sigint-in-a-background-job"],
)
def test_serve_stopped_by_a_signal_removes_its_state_file(
    tmp_path: Path, stop_signal: signal.Signals, ignored_at_start: bool
) -> None:
    # GIVEN serve running (as a shell script's background job would start it: SIGINT ignored from the start)
    state = tmp_path / "local.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [str(Path(sys.executable).parent / "smsbridge"), "serve", "--port", "0", "--state-file", str(state),
               "--sync-seconds", "0"]  # fmt: skip
    if ignored_at_start:
        command = ["bash", "-c", 'trap "" INT; exec "$@"', "serve", *command]
    serve = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert serve.stdout is not None
    for line in serve.stdout:
        if line.strip() == "ready":
            break
    assert state.exists()
    # keep reading what it prints while it stops: a full pipe would block the process, not the code under test
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(serve.stdout or []), daemon=True)
    reader.start()
    # WHEN it gets the signal THEN it stops cleanly, and its state file goes with it
    serve.send_signal(stop_signal)
    try:
        assert serve.wait(timeout=120) == 0, "".join(printed)[-2000:]
    except subprocess.TimeoutExpired:
        serve.kill()
        pytest.fail(f"serve did not stop on {stop_signal.name}; its last output:\n" + "".join(printed)[-2000:])
    reader.join(timeout=10)
    serve.stdout.close()
    assert not state.exists()
