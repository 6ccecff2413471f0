"""Users and the three roles: viewer (read), operator (change slices), admin (also users and Django admin)."""
