"""Reading a list answer while keeping each record's JSON text: the same value `json.loads` reads, each record's text
decoding to that record, and a refusal wherever `json.loads` refuses."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slices_admin.kodexa.pages import decode_page
from slices_admin.kodexa.schemas import parse_datetime

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(
    records=st.lists(json_values, max_size=6),
    others=st.dictionaries(st.text(max_size=8).filter(lambda key: key != "content"), json_values, max_size=3),
    indent=st.sampled_from([None, 1]),
)
def test_a_page_reads_as_json_loads_reads_it_and_each_record_keeps_its_text(records, others, indent):
    text = json.dumps({**others, "content": records}, indent=indent, ensure_ascii=False)
    page, texts = decode_page(text)
    assert page == json.loads(text)
    assert texts is not None and [json.loads(item) for item in texts] == records


@pytest.mark.parametrize(
    "text", ['{"content": [1,]}', '{"content": [1] ', '{"a": 1}x', '{"a" 1}', "{'a': 1}", '{"content": [1 2]}', ""]
)
def test_what_json_loads_refuses_is_refused(text):
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        decode_page(text)


@pytest.mark.parametrize("text", ['[{"id": "a"}]', '{"content": "none"}', "{}", "3"])
def test_an_answer_without_a_content_list_reads_without_record_texts(text):
    assert decode_page(text) == (json.loads(text), None)


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("2026-11-01t13:40:00.5z", "2026-11-01T13:40:00.500000+00:00"),
        ("2026-11-01T13:40:00.123456789-02:30", "2026-11-01T13:40:00.123456-02:30"),
        ("2026-11-01 13:40:00Z", "2026-11-01T13:40:00+00:00"),
    ],
)
def test_date_times_read_alike_whichever_way_they_are_read(text, same_as):
    from datetime import datetime

    assert parse_datetime(text) == datetime.fromisoformat(same_as)
    assert parse_datetime(text).utcoffset() == datetime.fromisoformat(same_as).utcoffset()
