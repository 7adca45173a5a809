"""The fast attribute serializer gives exactly what boto3's TypeSerializer gives for what smsbridge stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from smsbridge.adapters.dynamodb import attribute, plain

leaves = st.one_of(st.text(max_size=20), st.booleans(), st.integers(-(10**12), 10**12))
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(values)
def test_attribute_matches_boto3(value: Any) -> None:
    assert attribute(value) == TypeSerializer().serialize(value)


def test_none_inside_a_map_is_left_out_and_plain_reads_back_whole_numbers_as_int() -> None:
    assert attribute({"a": None, "b": 1}) == {"M": {"b": {"N": "1"}}}
    assert plain({"n": {"N": "30006"}, "f": {"N": "1.5"}, "b": {"BOOL": True}}) == {
        "n": 30006,
        "f": Decimal("1.5"),
        "b": True,
    }
    assert TypeDeserializer().deserialize(attribute([1, "x"])) == [Decimal(1), "x"]
