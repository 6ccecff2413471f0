"""Personal API tokens: named, expiring, stored as SHA-256 digests, each the key of one user to the JSON API.

Its boundary: the token model and the one place a presented token is checked (`authentication`), the services that
issue and revoke tokens (audited), and the pages where people manage their own tokens and admins anyone's. Roles are
not its business: a token signs its user in, and the API's permission checks that user's role as for a session."""
