"""gunicorn settings for the console: `manage.py serve` uses them, and so can a deployment
(`gunicorn -c gunicorn.conf.py`).

Threaded workers: requests mostly wait on the database and on Kodexa, so threads serve them well at little memory.
Every value can be set from the environment; command-line flags (`--bind`, `--workers`, `--threads`) win over both.
"""

import os

from slices_admin.metrics import multiprocess as metrics_directory

wsgi_app = "slices_admin.wsgi:application"

bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
worker_class = "gthread"
# Two processes a core, four threads each. A process runs Python on one core at a time (the GIL): with fewer, more
# threaded processes, requests that are rendering queue behind each other while cores sit idle (`make load` on two
# cores: p95 370 ms with 2 x 8, 210 ms with 4 x 4).
workers = int(os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1))))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A worker process whose main loop stays silent this long (hung, not merely busy: threads serve the requests) is
# killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))  # requests in flight finish on SIGTERM
keepalive = 5
# Recycle each worker after this many requests (jittered, so they do not all restart at once).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))

# Requests are logged by the console itself; gunicorn logs only its own events, to stderr, in the console's format
# (one JSON object per line unless LOG_FORMAT=plain).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
if os.environ.get("LOG_FORMAT", "json") == "json":
    _stderr = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    logconfig_dict = {  # merged into gunicorn's defaults, which name both handlers
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "slices_admin.core.logs.JsonLineFormatter"}},
        "handlers": {"console": _stderr, "error_console": _stderr},
        "loggers": {"gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False}},
    }

# Proxies whose X-Forwarded-Proto/-For gunicorn trusts (comma-separated addresses or networks, or "*").
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# No control socket: its default path is per user, so two servers on one machine would fight over it.
control_socket_disable = True
proc_name = "slices-console"

# Metrics: every worker counts into one directory (prometheus-client's multiprocess mode), so any of them answers
# /metrics for all. `manage.py serve` prepares it and sets PROMETHEUS_MULTIPROC_DIR for gunicorn and the background
# workers alike; started on its own, gunicorn prepares var/metrics itself (emptied: counts start again with the
# server). Set here, in the master, before any worker imports prometheus-client, which picks its mode on import.
if metrics_directory.VARIABLE not in os.environ:
    os.environ[metrics_directory.VARIABLE] = str(metrics_directory.prepare(metrics_directory.DEFAULT))


def child_exit(server, worker):
    """A worker exited (recycled after max_requests, killed): its files stay, so its counts stay in the sums, and
    prometheus-client forgets its live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
