"""Everything that speaks Kodexa's wire format: the contract table, the wire schemas and the HTTP client.

Nothing outside this package builds a Kodexa URL or sends a request.
"""
