"""What may be shown of a person: numbers masked, short codes and sender IDs as they are."""

from __future__ import annotations

import pytest

from smsbridge.domain.privacy import mask_address, mask_numbers_in


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("+14155550123", "+1********23"),
        ("+447700900123", "+4*********23"),
        ("whatsapp:+14155550123", "whatsapp:+1********23"),
        ("53079", "53079"),
        ("MyBrand", "MyBrand"),
        ("+123", "+***"),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_mask_never_shows_the_middle_digits() -> None:
    assert "5550" not in mask_address("+14155550123")


def test_numbers_inside_another_systems_text_are_masked() -> None:
    text = "Row 2: identity value +14155550100 (or 4155550101) not found; 3 rows, job 42"
    assert mask_numbers_in(text) == "Row 2: identity value +1********00 (or 41******01) not found; 3 rows, job 42"
