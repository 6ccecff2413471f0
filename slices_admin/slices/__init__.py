"""The slice cache: local copies of Kodexa's slice records, the services that change them, and their pages."""
