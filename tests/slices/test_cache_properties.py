"""Properties of the cache over generated Kodexa answers: whatever a record holds (odd values in every field), it is
cached without error, kept verbatim as raw JSON, its typed columns hold exactly the values that parse, and its
page renders."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slices_admin.kodexa.contract import RESOURCES, WireType
from slices_admin.kodexa.schemas import parse_record
from slices_admin.slices.cache import cache_records
from slices_admin.slices.models import MODELS
from tests import nasty, strategies

pytestmark = pytest.mark.django_db
KINDS = {"orchestrator-execution-slices": "orchestrator", "execution-slices": "execution"}


def same_json(stored, given) -> bool:
    """Equal as JSON values: PostgreSQL's jsonb keeps a number's value, not its spelling (1e308 comes back as
    an integer, -0.0 as 0.0)."""

    def numbers_as_decimals(value):
        return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)

    return numbers_as_decimals(stored) == numbers_as_decimals(given)


def storable(payload: dict) -> bool:
    """What any database the cache runs on can hold: no NUL (PostgreSQL), no lone surrogate, no NaN."""
    try:
        text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return "\\u0000" not in text


@st.composite
def answers(draw, resource):
    payload = draw(strategies.wire_shaped(resource, partial=True))
    payload["id"] = draw(strategies.valid_ids)
    return payload


@pytest.mark.parametrize("resource", list(RESOURCES.values()), ids=lambda r: r.label)
@given(data=st.data())
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_answer_is_cached_verbatim_and_its_page_renders(admin_client, resource, data):
    payload = data.draw(answers(resource).filter(storable))
    cache_records(resource, [payload])
    row = MODELS[resource].objects.get(id=payload["id"])
    assert same_json(row.raw, payload)
    values, problems = parse_record(resource, payload)
    for field in resource.fields:
        if field.wire_name != "id":
            expected = values.get(field.python_name) if field.wire_name not in problems else None
            held = getattr(row, field.python_name)
            if field.type == WireType.OBJECT:
                assert same_json(held, expected), field.wire_name
            else:
                assert held == expected, field.wire_name
    response = admin_client.get(reverse("slices:detail", args=[KINDS[resource.path], payload["id"]]))
    assert response.status_code == 200
    nasty.assert_safe_html(response.content.decode())
