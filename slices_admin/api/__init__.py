"""The JSON API (DRF) for automation: the same audited services as the pages, camelCase like Kodexa."""
