"""What a user may do comes from their role (and any permission of their own), read in one query per request."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slices_admin.accounts.roles import EDIT_SLICES, VIEW_AUDIT, VIEW_SLICES

pytestmark = pytest.mark.django_db


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # no permissions cached yet, as at the start of a request


def test_a_role_grants_its_permissions_in_one_query(make_user):
    viewer, operator = fresh(make_user("viewer")), fresh(make_user("operator"))
    with CaptureQueriesContext(connection) as queries:
        assert viewer.has_perm(VIEW_SLICES) and viewer.has_perm(VIEW_AUDIT) and not viewer.has_perm(EDIT_SLICES)
    assert len(queries) == 1
    assert operator.has_perms([VIEW_SLICES, EDIT_SLICES])


def test_a_permission_given_to_the_user_alone_counts_too(make_user):
    viewer = make_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="edit_slices"))
    assert fresh(viewer).has_perm(EDIT_SLICES)


def test_an_inactive_user_may_do_nothing(make_user):
    operator = make_user("operator")
    operator.is_active = False
    operator.save()
    assert not fresh(operator).has_perm(VIEW_SLICES)
