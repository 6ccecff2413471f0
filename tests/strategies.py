"""Hypothesis strategies: any JSON, and values shaped like the wire records with odd values in each field."""

import datetime as dt

from hypothesis import strategies as st

from slices_admin.kodexa.contract import INT32_MAX, INT32_MIN, ContractField, Resource, WireType
from tests import nasty

# --- any JSON ---------------------------------------------------------------------------------------------------
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)

# What Python's json module (and so a Kodexa answer read by `requests`) also lets through: NaN and Infinity.
python_json_values = st.recursive(
    json_scalars | st.floats(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def nested(depth: int, leaf=1):
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# --- valid wire values ----------------------------------------------------------------------------------------
valid_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
valid_ids = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=255
)  # printable: a URL segment and a primary key
valid_objects = st.dictionaries(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | valid_text.filter(lambda s: len(s) < 30),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(valid_text.filter(lambda s: len(s) < 8), children, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
)
# Offsets RFC 3339 allows, all within ±23:59.
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: dt.timedelta(minutes=m))


@st.composite
def rfc3339(draw) -> tuple[str, dt.datetime]:
    """An RFC 3339 date-time in any of its spellings, and the instant it names (to the microsecond)."""
    instant = draw(
        st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC))
    )
    offset = draw(st.sampled_from([dt.timedelta(0)]) | offsets)
    local = instant.astimezone(dt.timezone(offset))
    digits = draw(st.sampled_from([0, 1, 3, 6, 7, 9]))
    micro = f"{local.microsecond:06d}"
    fraction = "" if digits == 0 else "." + (micro + draw(st.text("0123456789", min_size=3, max_size=3)))[:digits]
    kept = int(micro[: min(digits, 6)].ljust(6, "0"))  # digits past the microsecond are dropped
    if offset or draw(st.booleans()):
        sign = "-" if offset < dt.timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds() // 60))
        zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    else:
        zone = draw(st.sampled_from(["Z", "z"]))
    separator = draw(st.sampled_from(["T", "t", " "]))
    date = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"  # strftime's %Y drops the zeros of year 999
    text = f"{date}{separator}{local:%H:%M:%S}{fraction}{zone}"
    return text, instant.replace(microsecond=kept)


VALID = {
    WireType.INT32: st.integers(INT32_MIN, INT32_MAX),
    WireType.STRING: valid_text,
    WireType.DATETIME: rfc3339().map(lambda pair: pair[0]),
    WireType.OBJECT: valid_objects,
}

# --- odd values, per type -------------------------------------------------------------------------------------
ODD = {
    WireType.INT32: st.sampled_from(nasty.NUMBERS)
    | st.integers()
    | st.integers(min_value=INT32_MAX + 1)
    | st.integers(max_value=INT32_MIN - 1)
    | st.floats()
    | st.text(max_size=12),
    WireType.STRING: st.sampled_from(list(nasty.STRINGS.values())) | st.text() | st.just("nul\x00inside"),
    WireType.DATETIME: st.sampled_from(nasty.DATES) | st.text(max_size=30) | st.integers(),
    WireType.OBJECT: st.sampled_from([nasty.object_of_strings(), nested(300)])
    | python_json_values
    | st.just({"nan": float("nan")})
    | st.just({"nul\x00": "x"})
    | st.just({"lone": "\ud800"}),
}


def field_value(field: ContractField, *, odd_share: bool = True):
    """A valid value, an odd one of the same type, null, or any JSON at all."""
    valid = valid_ids if field.wire_name == "id" else VALID[field.type]
    if not odd_share:
        return st.none() | valid if field.nullable else valid
    return st.one_of(valid, ODD[field.type], st.none(), json_values)


def wire_shaped(resource: Resource, *, partial: bool):
    """A JSON object shaped like a record of `resource`: each field valid, odd, null or any JSON; some missing
    (`partial`) and sometimes a key the contract does not have."""
    fields = {f.wire_name: field_value(f) for f in resource.fields}
    required, optional = ({}, fields) if partial else (fields, {})
    record = st.fixed_dictionaries(required, optional=optional)
    extra = st.dictionaries(st.text(max_size=12).filter(lambda k: k not in fields), json_values, max_size=2)
    return st.tuples(record, st.one_of(st.just({}), extra)).map(lambda pair: {**pair[0], **pair[1]})


def valid_records(resource: Resource, *, partial: bool = False):
    """Records the wire schema accepts."""
    fields = {f.wire_name: field_value(f, odd_share=False) for f in resource.fields}
    if partial:
        return st.fixed_dictionaries({}, optional=fields)
    return st.fixed_dictionaries(fields)
