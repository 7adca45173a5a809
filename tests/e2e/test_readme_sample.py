"""The README's sample of what `make serve` prints is a real run: this test starts `smsbridge serve`, runs the
Quick start's three `simulate` commands against it, and compares the console with the README's sample (clock
times and ports aside). `SMSBRIDGE_WRITE_README_SAMPLE=1 pytest tests/e2e/test_readme_sample.py` rewrites it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
README = ROOT / "README.md"
START, END = "<!-- serve-sample:start -->\n```text\n", "```\n<!-- serve-sample:end -->"


def quick_start_commands() -> list[list[str]]:
    """The `.venv/bin/smsbridge simulate …` lines of the Quick start, as argument lists."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("## Quick start") : text.index(START)]
    lines = [line.split("#")[0] for line in block.splitlines() if line.startswith(".venv/bin/smsbridge simulate")]
    return [shlex.split(line)[1:] for line in lines]


def normalised(text: str) -> list[str]:
    text = re.sub(r"\b\d\d:\d\d:\d\d\b", "HH:MM:SS", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text).splitlines()


def serve_and_run(tmp_path: Path) -> tuple[str, int]:
    """The console of a fresh `smsbridge serve` while the Quick start's commands run (and its port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CI360_"))}
    state = tmp_path / "local.json"
    process = subprocess.Popen(
        [str(BIN / "smsbridge"), "serve", "--port", "0", "--state-file", str(state), "--sync-seconds", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            ready.set() if line.strip() == "ready" else None

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(timeout=60), "\n".join(lines)
        port = int(re.search(r"127\.0\.0\.1:(\d+)/twilio/inbound", "\n".join(lines)).group(1))  # type: ignore[union-attr]
        for command in quick_start_commands():
            before = len(lines)
            argv = [word.replace("127.0.0.1:3000", f"127.0.0.1:{port}") for word in command]
            subprocess.run([str(BIN / "smsbridge"), *argv], capture_output=True, timeout=60, check=False)
            wanted_ci360 = "--auth-token" not in command  # a signed webhook makes one CI360 event here
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                len(lines) > before and (not wanted_ci360 or any(" CI360 " in line for line in lines[before:]))
            ):
                time.sleep(0.05)
            time.sleep(0.3)  # anything else this command causes
    finally:
        process.send_signal(2)
        process.wait(timeout=120)
        reader.join(timeout=10)  # the last lines, then end of file
        assert process.stdout is not None
        process.stdout.close()
    return "\n".join(lines) + "\n", port


def test_readme_sample_output_is_what_serve_prints(tmp_path: Path) -> None:
    console, port = serve_and_run(tmp_path)
    text = README.read_text(encoding="utf-8")
    shown = text[text.index(START) + len(START) : text.index(END)]
    if os.environ.get("SMSBRIDGE_WRITE_README_SAMPLE"):
        sample = console.replace(f"127.0.0.1:{port}", "127.0.0.1:3000")
        README.write_text(text.replace(START + shown + END, START + sample + END), encoding="utf-8")
        shown = sample
    assert normalised(shown) == normalised(console), f"README sample differs from a real run:\n{console}"
    assert "+1415555" not in console  # numbers masked
