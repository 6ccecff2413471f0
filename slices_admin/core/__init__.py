"""Cross-cutting web plumbing: request ids, the page context every template gets, health."""
