"""`<column>__unindexed`: the column, marked so SQLite's planner will not pick its index for this condition.

When a filter matches a large share of a million rows and the list is sorted by another column, walking the sort's
index and checking the filter row by row finds a page in a few milliseconds, while SQLite would rather read every
match through the filter's index and sort them all. SQLite's documented way to take an index out of play is a unary
plus on the column; other databases get the plain column and plan for themselves.
"""

from typing import TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import CharField, DateTimeField, Field, IntegerField, TextField, Transform
from django.db.models.sql.compiler import SQLCompiler

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType


class Unindexed(Transform):
    lookup_name = "unindexed"

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> "_AsSqlType":
        # Func's formatting arguments do not apply: the column is compiled as it is.
        return compiler.compile(self.lhs)

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> "_AsSqlType":
        sql, params = compiler.compile(self.lhs)
        return f"+{sql}", params

    @property
    def output_field(self) -> Field[Any, Any]:
        return self.lhs.output_field


for field_class in (CharField, TextField, IntegerField, DateTimeField):
    field_class.register_lookup(Unindexed)
