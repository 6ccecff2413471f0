"""What the provider's claims mean here: groups, the role they give, a new account's username, and the ID token's
issuer and audience."""

import pytest

from slices_admin.accounts.claims import (
    GROUPS_SHOWN,
    ClaimsRefused,
    check_id_token,
    groups_in,
    role_for,
    summary,
    username_from,
)

MAPPING = {"viewer": ["staff", "contractors"], "operator": ["ops"], "admin": ["ops-leads"]}
ISSUER, CLIENT = "https://sso.example.com/realms/acme", "slices-console"


def test_groups_are_read_from_a_list_claim():
    assert groups_in({"groups": ["ops", "staff"]}, "groups") == ["ops", "staff"]


def test_a_single_group_may_come_as_a_string():
    assert groups_in({"groups": "ops"}, "groups") == ["ops"]


def test_a_dotted_claim_reads_nested_claims_as_keycloak_sends_roles():
    assert groups_in({"realm_access": {"roles": ["ops", "offline_access"]}}, "realm_access.roles") == [
        "ops",
        "offline_access",
    ]


def test_a_claim_whose_name_has_dots_is_read_whole_first():
    claims = {"https://example.com/groups": ["ops"], "https://example": {"com/groups": ["wrong"]}}
    assert groups_in(claims, "https://example.com/groups") == ["ops"]


@pytest.mark.parametrize("value", [None, {"ops": True}, 7, True, [{"name": "ops"}, None, False]])
def test_a_missing_or_odd_groups_claim_is_no_group(value):
    assert groups_in({"groups": value}, "groups") == []


def test_the_highest_mapped_role_wins():
    assert role_for(["staff", "ops-leads", "ops"], MAPPING) == "admin"
    assert role_for(["contractors", "ops"], MAPPING) == "operator"
    assert role_for(["contractors"], MAPPING) == "viewer"


def test_someone_in_no_mapped_group_has_no_role():
    assert role_for(["everyone", "OPS", "ops "], MAPPING) is None  # exact names only, case and spaces included
    assert role_for([], MAPPING) is None


def test_a_role_with_no_groups_mapped_is_never_given():
    assert role_for(["ops"], {"viewer": ["ops"], "operator": [], "admin": []}) == "viewer"


def test_the_username_claim_is_preferred_then_the_email_then_the_subject():
    claims = {"preferred_username": "ana", "email": "ana@example.com", "sub": "123"}
    assert username_from(claims, "preferred_username") == "ana"
    assert username_from({**claims, "preferred_username": " "}, "preferred_username") == "ana@example.com"
    assert username_from({"sub": "123"}, "preferred_username") == "123"
    assert username_from({"upn": "ana@corp.example"}, "upn") == "ana@corp.example"


def test_a_username_is_cut_to_what_the_column_holds():
    assert len(username_from({"preferred_username": "a" * 500}, "preferred_username")) == 150


def test_an_id_token_for_this_console_from_the_issuer_passes():
    check_id_token({"iss": ISSUER, "aud": CLIENT, "sub": "1"}, issuer=ISSUER, client_id=CLIENT)
    check_id_token({"iss": ISSUER + "/", "aud": [CLIENT], "sub": "1"}, issuer=ISSUER, client_id=CLIENT)
    check_id_token({"iss": ISSUER, "aud": [CLIENT, "api"], "azp": CLIENT, "sub": "1"}, issuer=ISSUER, client_id=CLIENT)


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({"iss": "https://evil.example.com", "aud": CLIENT, "sub": "1"}, "another issuer"),
        ({"aud": CLIENT, "sub": "1"}, "another issuer"),
        ({"iss": ISSUER, "aud": "another-app", "sub": "1"}, "another client"),
        ({"iss": ISSUER, "aud": ["another-app", "api"], "sub": "1"}, "another client"),
        ({"iss": ISSUER, "sub": "1"}, "another client"),
        ({"iss": ISSUER, "aud": [CLIENT, "api"], "azp": "api", "sub": "1"}, "another authorized party"),
        ({"iss": ISSUER, "aud": CLIENT}, "no subject"),
        ({"iss": ISSUER, "aud": CLIENT, "sub": ""}, "no subject"),
    ],
)
def test_an_id_token_from_elsewhere_or_for_another_client_is_refused(payload, said):
    with pytest.raises(ClaimsRefused, match=said):
        check_id_token(payload, issuer=ISSUER, client_id=CLIENT)


def test_an_audit_entry_keeps_a_bounded_list_of_groups():
    many = [f"g{i}" for i in range(GROUPS_SHOWN + 30)]
    kept = summary(many)
    assert kept[:GROUPS_SHOWN] == many[:GROUPS_SHOWN] and kept[-1] == "… and 30 more" and len(kept) == GROUPS_SHOWN + 1
    assert summary(["a", "b"]) == ["a", "b"]
