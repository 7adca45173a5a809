"""`smsbridge optouts`: get, list, export and import against the consent table (moto)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from smsbridge.cli import main
from tests.integration.conftest import Stack

SERVICE = "MG" + "3" * 32
ROWS = [
    {
        "phone": f"+1415555{n:04d}",
        "scope": SERVICE if n % 2 else "+14155550199",
        "status": "opted_out" if n % 3 else "opted_in",
        "updated_at": f"2026-10-{1 + n:02d}T08:00:00+00:00",
    }
    for n in range(12)
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(stack: Stack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["optouts", *args, "--table", stack.consent_table])
    return code, capsys.readouterr().out


def test_import_then_export_round_trips_every_record(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN another system's opt-out list WHEN it is imported
    code, out = run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", ROWS)))
    assert code == 0
    assert "12 rows read; recorded 12 new events, 0 already on record; changed 12 states; 0 rows refused" in out
    # THEN the export holds every record as it came in
    run(stack, capsys, "export", "--output", str(tmp_path / "out.csv"))
    with (tmp_path / "out.csv").open(encoding="utf-8") as exported_file:
        exported = list(csv.DictReader(exported_file))
    keep = ("phone", "scope", "status", "updated_at")
    assert sorted(tuple(r[k] for k in keep) for r in exported) == sorted(tuple(r[k] for k in keep) for r in ROWS)
    assert {r["source"] for r in exported} == {"import"}
    # AND importing the export back changes nothing
    code, out = run(stack, capsys, "import", str(tmp_path / "out.csv"))
    assert "recorded 0 new events, 12 already on record; changed 0 states" in out


def test_dry_run_says_what_would_change_and_writes_nothing(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", ROWS[:3])), "--dry-run")
    assert code == 0
    assert "would record 3 new events" in out and "would change 3 states" in out
    assert stack.consent_items() == []


def test_bad_rows_are_refused_by_line_and_the_rest_imported(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        *ROWS[:2],
        {**ROWS[2], "status": "maybe"},
        {**ROWS[3], "phone": "call me"},
        {**ROWS[4], "updated_at": "yesterday"},
    ]
    code, out = run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", rows)))
    assert code == 1
    assert "recorded 2 new events" in out
    assert "line 4: status 'maybe' is not opted_out or opted_in" in out
    assert "line 5: phone 'call me' is not an E.164 phone number" in out
    assert "line 6: updated_at 'yesterday' is not an ISO 8601 time" in out


def test_later_import_row_for_the_same_number_wins(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"phone": "+14155550100", "scope": SERVICE}
    rows = [
        {**base, "status": "opted_in", "updated_at": "2026-11-02T00:00:00Z"},
        {**base, "status": "opted_out", "updated_at": "2026-11-01T00:00:00Z"},
    ]
    run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", rows)))
    code, out = run(stack, capsys, "get", "+14155550100")
    assert code == 0
    assert f"+14155550100  scope {SERVICE}  opted_in  since 2026-11-02T00:00:00+00:00" in out
    history = [line for line in out.splitlines() if line.startswith("  ")]
    assert [line.split()[1] for line in history] == ["opt_out", "opt_in"]


def test_list_filters_by_scope_status_and_since(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", ROWS)))
    _, out = run(stack, capsys, "list", "--scope", SERVICE, "--status", "opted_out", "--since", "2026-10-05")
    expected = [
        r for r in ROWS if r["scope"] == SERVICE and r["status"] == "opted_out" and r["updated_at"] >= "2026-10-05"
    ]
    assert out.splitlines()[-1] == f"{len(expected)} states"
    assert {line.split()[0] for line in out.splitlines()[:-1]} == {r["phone"] for r in expected}


def test_export_streams_csv_to_stdout(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", ROWS[:2])))
    code = main(["optouts", "export", "--table", stack.consent_table])
    captured = capsys.readouterr()
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == 2
    assert rows[0].keys() >= {"phone", "scope", "status", "updated_at"}
    assert "2 states exported" in captured.err


def test_unknown_number_and_missing_location_say_so(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(stack, capsys, "get", "+14155550000") == (0, "+14155550000: no consent on record\n")
    assert main(["optouts", "list"]) == 2
    assert "--local, --stack NAME or --consent-table" in capsys.readouterr().err


def test_excel_csv_with_bom_crlf_and_semicolons_is_read(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a CSV as Excel writes it in many locales: UTF-8 with a byte-order mark, CRLF, ";" between fields
    text = "phone;scope;status;updated_at\r\n" + "".join(
        f"{r['phone']};{r['scope']};{r['status']};{r['updated_at']}\r\n" for r in ROWS[:3]
    )
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    code, out = run(stack, capsys, "import", str(path))
    assert code == 0, out
    assert out.startswith("3 rows read; recorded 3 new events")


def test_tab_separated_file_from_stdin(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "phone\tscope\tstatus\n" + "".join(f"{r['phone']}\t{r['scope']}\t{r['status']}\n" for r in ROWS[:2])
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))
    code, out = run(stack, capsys, "import", "-")
    assert code == 0, out
    assert out.startswith("2 rows read; recorded 2 new events")


def test_future_times_and_malformed_sids_are_refused_by_line(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        ROWS[0],
        {**ROWS[1], "updated_at": "2030-01-01T00:00:00+00:00"},  # would lock the number until 2030
        {**ROWS[2], "scope": "MGxyz"},
        {**ROWS[3], "phone": "4155550103"},
    ]
    code, out = run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", rows)))
    assert code == 1
    assert "recorded 1 new event," in out
    assert "line 3: updated_at 2030-01-01T00:00:00+00:00 is in the future" in out
    assert "line 4: scope 'MGxyz' looks like a Messaging Service SID but is not MG and 32 hex digits" in out
    assert (
        "line 5: phone '4155550103' is not an E.164 phone number such as +14155550100; did you mean +14155550103?"
        in out
    )
    assert {item["phone"] for item in stack.consent_items()} == {ROWS[0]["phone"]}


def test_dry_run_counts_exactly_what_the_real_run_does(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a file with a repeated row
    path = write_csv(tmp_path / "in.csv", [ROWS[0], ROWS[1], ROWS[0]])
    _, dry = run(stack, capsys, "import", str(path), "--dry-run")
    _, real = run(stack, capsys, "import", str(path))
    assert dry.replace("would record", "recorded").replace("would change", "changed") == real
    assert "recorded 2 new events, 1 already on record; changed 2 states" in real


def test_a_file_that_is_not_utf8_is_refused_without_writing(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("phone,scope,status\n+14155550100,+14155550199,opted_out\n# café\n".encode("latin-1"))
    code = main(["optouts", "import", str(path), "--consent-table", stack.consent_table])
    assert code == 2
    assert capsys.readouterr().err == 'smsbridge: the file is not UTF-8 text: save it as "CSV UTF-8" and try again\n'
    assert stack.consent_items() == []


def test_list_since_compares_times_not_text(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(stack, capsys, "import", str(write_csv(tmp_path / "in.csv", ROWS[:4])))
    # a time in another zone: 2026-10-03T03:00-05:00 is 08:00 UTC, when ROWS[2] changed
    _, out = run(stack, capsys, "list", "--since", "2026-10-03T03:00:00-05:00")
    assert {line.split()[0] for line in out.splitlines()[:-1]} == {ROWS[2]["phone"], ROWS[3]["phone"]}
    _, out = run(stack, capsys, "list", "--since", "2026-10-04")
    assert out.splitlines() == [out.splitlines()[0], "1 state"]
