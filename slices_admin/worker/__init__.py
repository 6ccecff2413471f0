"""The background worker's process: `manage.py db_worker` (django-tasks-db's worker, made to ride out a database
outage) and the sweep it runs on a beat across the console's apps. It sits above them: they never import it."""
