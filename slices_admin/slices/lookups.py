"""`<column>__unindexed`: the column, marked so SQLite's planner will not pick its index for this condition.

When a filter matches a large share of a million rows and the list is sorted by another column, walking the sort's
index and checking the filter row by row finds a page in a few milliseconds, while SQLite would rather read every
match through the filter's index and sort them all. SQLite's documented way to take an index out of play is a unary
plus on the column; other databases get the plain column and plan for themselves.
"""

from django.db.models import CharField, DateTimeField, IntegerField, TextField, Transform


class Unindexed(Transform):
    lookup_name = "unindexed"

    def as_sql(self, compiler, connection):
        return compiler.compile(self.lhs)

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        return f"+{sql}", params

    @property
    def output_field(self):
        return self.lhs.output_field


for field_class in (CharField, TextField, IntegerField, DateTimeField):
    field_class.register_lookup(Unindexed)
