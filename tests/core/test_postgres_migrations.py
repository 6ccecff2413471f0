"""The helper the PostgreSQL-only migrations share."""

import pytest
from django.db import DatabaseError, connection

from slices_admin.core.postgres import create_trigram_extension


class _Refusing:
    """A schema editor on a database role that may not create extensions."""

    connection = connection

    def execute(self, sql):
        raise DatabaseError("permission denied to create extension")


@pytest.mark.django_db
def test_a_refused_trigram_extension_leaves_the_search_unindexed_and_says_how_to_index_it(caplog):
    assert create_trigram_extension(_Refusing(), unindexed="the audit search", app="audit", before="0006") is False
    assert "the audit search stays unindexed" in caplog.text
    assert "migrate audit back to 0006 and forward again" in caplog.text
