"""The PostgreSQL browsing section as plain text: every combination at every size against its targets, the plans of
the largest size, the disk and the cost of writing a sync page."""


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _label(rows: int) -> str:
    return f"{rows / 1_000_000:g}M" if rows >= 1_000_000 else f"{rows / 1000:g}k"


def _passes(row: dict) -> bool:
    return all(row[key] for key in ("console_within_target", "api_within_target", "console_faster_than_admin"))


def _plan_line(query: dict) -> str:
    head = " > ".join(step.strip().rsplit("  rows=", 1)[0] for step in query["shape"][:4])
    return f"{query['ms']:>7.1f} ms  {query['rows_touched']:>9,} rows  {query['pages']:>7,} pages  {head}"


def table(figures: dict) -> str:
    sizes = figures["sizes"]
    labels = [_label(size["rows"]) for size in sizes]
    growth = {row["name"]: row for row in figures["growth"]}
    lines = [
        f"List fragment, JSON API list and Django admin changelist on PostgreSQL {figures['machine']['postgresql']}: "
        f"{', '.join(f'{size["rows"]:,}' for size in sizes)} orchestrator slices, {figures['page_size']} rows a page, "
        f"{figures['timed_requests']} timed requests each (after {figures['warmup_requests']} warm-up)",
        f"targets: console and API p95 <= {figures['target_p95_ms']:.0f} ms, console median below admin's, p95 at "
        f"{labels[-1]} within {figures['target_growth']}x of {labels[0]}",
        "",
        f"{'combination':<44}{'size':>5}{'matching':>11}  {'console':>8}{'api':>7}{'admin':>8}  (p95 ms)"
        "  growth  result",
    ]
    for number, first in enumerate(sizes[0]["combinations"]):
        for label, size in zip(labels, sizes, strict=True):
            row = size["combinations"][number]
            ratio = ""
            passed = _passes(row)
            if size is sizes[-1] and first["name"] in growth:
                grown = growth[first["name"]]
                ratio = f"{grown['p95_ratio']['console']:.2f}x"
                passed = passed and grown["console_within_target"] and grown["api_within_target"]
            name = first["name"] if size is sizes[0] else ""
            lines.append(
                f"{name:<44}{label:>5}{row['matching_rows']:>11,}  {row['console_ms']['p95']:>8.1f}"
                f"{row['api_ms']['p95']:>7.1f}{row['admin_ms']['p95']:>8.1f}  {'':8}  {ratio:>6}  {_verdict(passed)}"
            )
    largest = sizes[-1]
    lines += ["", f"The console's queries at {labels[-1]} (EXPLAIN ANALYZE, BUFFERS): time, rows touched, pages, plan"]
    for row in largest["combinations"]:
        lines.append(f"  {row['name']}")
        lines += [f"    {_plan_line(query)}" for query in row["console_queries"]]
    lines += ["", "Disk and the write cost of one sync page (1,000 records upserted; median of runs)"]
    for label, size in zip(labels, sizes, strict=True):
        disk, write = size["disk"], size["sync_page_write"]
        lines.append(
            f"  {label:>5}: database {disk['database_mib']:,} MiB, slice table {disk['slice_table_mib']:,} MiB, "
            f"its {disk['slice_index_count']} indexes {disk['slice_indexes_mib']:,} MiB;  insert "
            f"{write['insert']['ms']:.0f} ms ({write['insert']['wal_kib']:,} KiB WAL), update "
            f"{write['update']['ms']:.0f} ms ({write['update']['wal_kib']:,} KiB WAL)"
        )
    lines += ["", f"All targets: {_verdict(figures['pass'])}"]
    return "\n".join(lines)
