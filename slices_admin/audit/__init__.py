"""The audit log: one append-only entry per attempted change, success or failure."""
