"""What a list request's queries do on PostgreSQL: each explained with EXPLAIN (ANALYZE, BUFFERS), and summed up as
its plan's shape, the rows it touched and the pages it read. On a shared machine these say more than milliseconds:
a plan whose rows and pages stay flat as the table grows ten times is a plan whose cost does not grow."""

import json
import re

from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext

from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import OrchestratorSlice

_TABLE = OrchestratorSlice._meta.db_table
_SELECT_LIST = re.compile(r"^SELECT (DISTINCT )?.*? FROM ", re.DOTALL)
_SCANS = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan")


def matches(console: list[tuple[str, str]]) -> int:
    """How many slices a combination matches, counted exactly (once, outside the timing)."""
    from urllib.parse import urlencode

    _filterset, queryset = filtered_slices(OrchestratorSlice, QueryDict(urlencode(console)))
    return queryset.order_by().count()


def _walk(node: dict, depth: int = 0):
    yield depth, node
    for child in node.get("Plans", ()):
        yield from _walk(child, depth + 1)


def _label(node: dict) -> str:
    kind = node["Node Type"]
    if node.get("Scan Direction") == "Backward":
        kind += " Backward"
    if "Index Name" in node:
        kind += f" {node['Index Name']}"
    if node.get("Sort Key"):
        kind += f" ({', '.join(node['Sort Key'])})"
    return kind


def summarize(plan: dict) -> dict:
    """A plan's shape (its nodes, outermost first), the rows its scans touched (returned, or read and removed by a
    filter or a recheck), and the pages it read (shared buffers hit or read)."""
    root = plan["Plan"]
    touched = 0
    shape = []
    for depth, node in _walk(root):
        shape.append(f"{'  ' * depth}{_label(node)}  rows={node.get('Actual Rows', 0)}x{node.get('Actual Loops', 1)}")
        if node["Node Type"] in _SCANS:
            seen = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
            seen += node.get("Rows Removed by Index Recheck", 0)
            touched += seen * node.get("Actual Loops", 1)
    return {
        "execution_ms": round(plan.get("Execution Time", 0.0), 2),
        "rows_touched": int(touched),
        "pages": root.get("Shared Hit Blocks", 0) + root.get("Shared Read Blocks", 0),
        "shape": shape,
    }


def short_sql(sql: str) -> str:
    """A query without its column list, which says nothing about its plan."""
    return _SELECT_LIST.sub(r"SELECT \1… FROM ", sql, count=1)


def explained(client: Client, url: str, *, htmx: bool = False) -> list[dict]:
    """Every query of one request that reads the slice table, explained (it runs each once more)."""
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    with CaptureQueriesContext(connection) as captured:
        client.get(url, **headers)
    found = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if _TABLE not in sql or not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
            raw = cursor.fetchone()[0]
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
        found.append({"ms": round(float(query["time"]) * 1000, 2), "sql": short_sql(sql), **summarize(plan)})
    return found
