"""Metrics for Prometheus: what the console counts as it works (`series`), what it reads from the database when
scraped (`state`), the `/metrics` endpoint and its guard (`views`), and the shared directory that lets every web and
worker process count into one exposition (`multiprocess`)."""
