"""CSV export memory: stream a filtered export and the whole cache, and compare their peak traced memory.

The export is asked for through the test client like a browser would, and its streaming iterator consumed to the
end. "Flat" means the whole cache's peak stays about that of a small export (at most `FLAT_FACTOR` times it),
however many rows stream. tracemalloc slows Python down, so rows/s are measured in a separate untraced pass.
"""

import gc
import time
import tracemalloc
from urllib.parse import urlencode

from django.test import Client
from django.urls import reverse

FLAT_FACTOR = 2.0
MIB = 1024 * 1024


def _stream(client: Client, url: str, header_lines: int) -> tuple[int, int, float]:
    """Rows and bytes of one export, and the seconds it took to consume."""
    began = time.perf_counter()
    response = client.get(url)
    if response.status_code != 200 or not response.streaming:
        raise RuntimeError(f"GET {url} answered {response.status_code} without streaming")
    chunks = size = 0
    for chunk in response.streaming_content:  # one chunk per line, any header first
        chunks += 1
        size += len(chunk)
    response.close()
    return chunks - header_lines, size, time.perf_counter() - began


def measure_one(client: Client, params: list[tuple[str, str]], *, path: str = "", header_lines: int = 1) -> dict:
    """Peak traced memory of streaming one export, then its speed untraced. The export is the orchestrator
    slices' CSV unless `path` names another (with `header_lines` lines before its first row)."""
    url = (path or reverse("slices:export", args=["orchestrator"])) + "?" + urlencode(params)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rows, size, _traced_seconds = _stream(client, url, header_lines)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    _rows, _size, seconds = _stream(client, url, header_lines)
    return {
        "query": urlencode(params),
        "rows": rows,
        "bytes": size,
        "peak_traced_mib": round(peak / MIB, 2),
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
    }


def measure(client: Client, filtered: list[tuple[str, str]], log=print) -> dict:
    """A filter of about ten thousand rows against the whole cache."""
    log(f"  filtered export ({urlencode(filtered)}) ...")
    small = measure_one(client, filtered)
    log("  export of the whole cache ...")
    everything = measure_one(client, [])
    ratio = everything["peak_traced_mib"] / max(small["peak_traced_mib"], 0.01)
    return {
        "filtered": small,
        "all": everything,
        "peak_ratio_all_over_filtered": round(ratio, 2),
        "flat_factor_target": FLAT_FACTOR,
        "pass": ratio <= FLAT_FACTOR,
    }
