"""What `smsbridge serve` prints once it listens (the parts that do not need a running stack)."""

from __future__ import annotations

from types import SimpleNamespace

from smsbridge.cli.serve import serve_banner


def stack() -> SimpleNamespace:
    return SimpleNamespace(
        aws_endpoint_url="http://127.0.0.1:5000", ci360=SimpleNamespace(url="http://127.0.0.1:5001"), stub=object(),
        base_url="http://127.0.0.1:3000", check_gateway=lambda: (True, "OK: the gateway accepted the credentials"),
        data_description=lambda: "in memory: tables and queues are lost when serve stops",
    )  # fmt: skip


def test_with_another_token_the_banner_shows_only_its_last_four_characters() -> None:
    token = "f" * 28 + "c0de"
    lines = serve_banner(stack(), token, default_token=False)
    assert lines[-1].endswith('/twilio/inbound --body STOP --auth-token "$TWILIO_AUTH_TOKEN"')
    assert "  auth token:       …c0de (the token given with --auth-token)" in lines
    assert not any(token in line for line in lines)
    assert not any("documented test token" in line for line in lines)


def test_with_the_test_token_the_hint_needs_no_flag_and_the_banner_says_where_data_lives() -> None:
    lines = serve_banner(stack(), "0" * 32, default_token=True)
    assert lines[-1].endswith("--body STOP")
    assert "  data:             in memory: tables and queues are lost when serve stops" in lines
    assert "  CI360 check:      OK: the gateway accepted the credentials" in lines
