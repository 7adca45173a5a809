"""`smsbridge serve --data-file FILE`: what the local stack recorded is there after a restart, and restoring it
sends CI360 nothing again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from smsbridge.domain.ci360_events import DEFAULT_EVENT_NAMES
from smsbridge.local.ci360_stub import Ci360Stub
from smsbridge.local.server import STUB_SECRET, STUB_TENANT

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
CUSTOMER = "+14155550521"


def smsbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "smsbridge"), *args], capture_output=True, text=True, timeout=60, check=False)


class Serve:
    """`smsbridge serve` in the background, its console collected."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        argv = [str(BIN / "smsbridge"), "serve", "--port", "0", "--sync-seconds", "0", *args]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.strip() == "ready":
                    ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        assert ready.wait(timeout=60), "\n".join(self.lines)
        found = re.search(r"(http://127\.0\.0\.1:\d+)/twilio/inbound", "\n".join(self.lines))
        assert found
        self.base_url = found.group(1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=120)
        self.reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def test_records_survive_a_restart_and_are_not_sent_again(tmp_path: Path) -> None:
    data, state = tmp_path / "data.json", tmp_path / "local.json"
    names = [name for name in DEFAULT_EVENT_NAMES.values() if name]
    with Ci360Stub(tenant_id=STUB_TENANT, client_secret=STUB_SECRET, event_names=names) as stub:
        gateway = ["--ci360-url", stub.url, "--ci360-tenant", STUB_TENANT, "--ci360-secret", STUB_SECRET]
        where = ["--data-file", str(data), "--state-file", str(state), *gateway]
        # GIVEN a stack that recorded a customer's STOP, after CI360 messaged them, and sent the opt-out on
        first = Serve(*where)
        assert any("data:" in line and "0 records and 0 queued events restored" in line for line in first.lines)
        url = f"{first.base_url}/twilio/status?dh=DH-521&rtc=R&tc=T"
        smsbridge("simulate", "status", "--url", url, "--to", CUSTOMER, "--status", "sent")
        smsbridge("simulate", "inbound", "--url", f"{first.base_url}/twilio/inbound", "--from", CUSTOMER)
        stub.wait_for(1, timeout=30)
        time.sleep(1)
        sent_before = len(stub.events())
        first.stop()
        assert any(line.startswith("saved ") and str(data) in line for line in first.lines)
        # WHEN the stack starts again from the data file
        second = Serve(*where)
        try:
            # THEN the number is still opted out, and CI360 received nothing more
            shown = smsbridge("optouts", "get", CUSTOMER, "--local", "--state-file", str(state))
            assert f"{CUSTOMER}  scope +14155550199  opted_out" in shown.stdout, shown.stdout + shown.stderr
            restored = next(line for line in second.lines if "data:" in line)
            assert "records and 0 queued events restored" in restored and " 0 records" not in restored
            time.sleep(2)  # the forwarder polls the streams meanwhile
            assert len(stub.events()) == sent_before
            assert not any(re.match(r"\d\d:\d\d:\d\d CI360 ", line) for line in second.lines), "\n".join(second.lines)
        finally:
            second.stop()
