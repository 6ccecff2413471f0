"""The Slices console: a Django project for the execution slices of a Kodexa deployment."""
