"""CI360's answers: which are done, which are retried (and for how long), which are given up at once."""

from __future__ import annotations

import pytest

from smsbridge.domain.delivery import (
    MAX_ATTEMPTS,
    MAX_DELAY_SECONDS,
    Outcome,
    explain_check,
    judge_response,
    retry_delay,
)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, "", Outcome.ACCEPTED),
        (201, '{"status":"accepted"}', Outcome.ACCEPTED),
        (202, "", Outcome.ACCEPTED),
        (None, "", Outcome.RETRY),
        (500, "", Outcome.RETRY),
        (502, "<html>bad gateway</html>", Outcome.RETRY),
        (503, "", Outcome.RETRY),
        (504, "", Outcome.RETRY),
        (429, "", Outcome.RETRY),
        (408, "", Outcome.RETRY),
        (403, '{"message":"Forbidden: request limit exceeded"}', Outcome.RETRY),
        (403, '{"code":"MKTCMN74261"}', Outcome.REJECTED),
        (401, '{"code":"MKTCMN74248"}', Outcome.REJECTED),
        (400, '{"message":"event X is not defined"}', Outcome.REJECTED),
        (404, "", Outcome.REJECTED),
        (415, "", Outcome.REJECTED),
    ],
)
def test_every_class_of_answer(status: int | None, body: str, outcome: Outcome) -> None:
    assert judge_response(status, body, "ReadTimeoutError" if status is None else "").outcome is outcome


def test_rejection_reason_names_the_status_and_the_code() -> None:
    verdict = judge_response(403, '{"message":"invalid JWT","code":"MKTCMN74261"}')
    assert verdict.reason.startswith("403 MKTCMN74261")


def test_retry_delays_grow_to_the_sqs_maximum_and_last_for_hours() -> None:
    delays = [retry_delay(attempt) for attempt in range(1, MAX_ATTEMPTS)]
    assert delays[:4] == [30, 60, 120, 240]
    assert delays == sorted(delays) and max(delays) == MAX_DELAY_SECONDS
    assert sum(delays) >= 6 * 3600
    assert retry_delay(3, first=1) == 4


@pytest.mark.parametrize(
    ("status", "body", "error", "ok", "words"),
    [
        (200, '{"agentName":"a"}', "", True, "OK"),
        (None, "", "NewConnectionError", False, "cannot reach"),
        (401, '{"code":"MKTCMN74248"}', "", False, "does not know this tenant"),
        (401, '{"code":"MKTCMN74261"}', "", False, "client secret does not match"),
        (404, "", "", False, "not as a CI360 external gateway"),
        (403, "", "", False, "request limit"),
    ],
)
def test_check_answers_in_plain_words(status: int | None, body: str, error: str, ok: bool, words: str) -> None:
    verdict_ok, message = explain_check(status, body, error, "https://gw.example")
    assert verdict_ok is ok
    assert words in message
