"""core.renderers.FastJSONRenderer writes what DRF's JSONRenderer writes.

Byte for byte, except how a float is spelled (orjson writes ``1e-7`` and
``0.00006103515625`` where Python writes ``1e-07`` and ``6.103515625e-05``): the same
number, so those documents are compared as parsed JSON.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from core.renderers import FastJSONRenderer

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.sampled_from([datetime.UTC, None]))
    | st.dates()
    | st.times()
    | st.decimals(allow_nan=False, allow_infinity=False, places=4)
    | st.uuids()
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner, max_size=5)
    ),
    max_leaves=30,
)


def same_output(document) -> bool:
    ours, drfs = FastJSONRenderer().render(document), JSONRenderer().render(document)
    if b"e" in drfs.lower() or b"." in drfs:  # possibly a float: compare the values
        return json.loads(ours) == json.loads(drfs)
    return ours == drfs


@settings(max_examples=300)
@given(documents)
def test_any_document_renders_as_drf_renders_it(document):
    assert same_output(document)


@settings(max_examples=200)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text()
        | st.uuids()
        | st.dates(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_documents_without_floats_are_drfs_bytes(document):
    assert FastJSONRenderer().render(document) == JSONRenderer().render(document)


@pytest.mark.parametrize(
    "document",
    [
        {"line": "a\u2028b\u2029c", "é": "ü"},
        {"lazy": gettext_lazy("Not found."), "set": {1, 2}, "tuple": (1, "x")},
        {"big": 2**70, "decimal": decimal.Decimal("1.10"), "uuid": uuid.UUID(int=7)},
        [1e16, 1e-7, 123456789.123, -0.0, 5e-324],
    ],
)
def test_the_cases_drf_treats_specially_match(document):
    assert same_output(document)


def test_none_is_an_empty_body_and_indent_is_drfs():
    assert FastJSONRenderer().render(None) == b""
    document = {"a": [1, {"b": 2}]}
    pretty = "application/json; indent=2"
    assert FastJSONRenderer().render(document, pretty) == JSONRenderer().render(document, pretty)
    assert b"\n" in FastJSONRenderer().render(document, pretty)


class UTCTimesView:
    output_times_are_utc = True


utc_documents = st.recursive(
    st.none()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.datetimes(timezones=st.just(datetime.UTC)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(utc_documents)
def test_a_view_of_utc_times_gets_drfs_bytes_from_orjsons_own_times(document):
    context = {"view": UTCTimesView()}
    ours = FastJSONRenderer().render(document, renderer_context=context)
    assert ours == JSONRenderer().render(document, renderer_context=context)


def test_other_views_times_are_drfs_even_where_orjson_would_round_the_offset():
    # given a time in a historical zone whose offset has seconds (+00:09:21)
    moment = datetime.datetime(
        1900, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(seconds=561))
    )
    # when rendered for a view that does not declare UTC times
    body = FastJSONRenderer().render({"at": moment}, renderer_context={"view": object()})
    # then the offset is written whole, as DRF writes it
    assert body == b'{"at":"1900-01-01T00:00:00+00:09:21"}' == JSONRenderer().render({"at": moment})
