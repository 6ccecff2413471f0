#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, `make serve` and `make load`, from Debian's packages, on 127.0.0.1.
#   scripts/postgres.sh start   initialise (first time) and start it; prints its DATABASE_URL
#   scripts/postgres.sh stop    stop it
#   scripts/postgres.sh crash   stop it as a crash does (`pg_ctl stop -m immediate`: no checkpoint, every connection
#                               cut; the next start recovers from the WAL). `make soak` uses it for its database faults
#   scripts/postgres.sh url     print its DATABASE_URL
# PG_PORT (54329) and PG_DATA (var/postgres) choose where; PG_SYNCHRONOUS_COMMIT (off) whether a commit waits for its
# WAL to be written: `on` for a server that is crashed on purpose, so no acknowledged commit is lost with it. Run as
# root (CI), the server runs as `postgres`.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PG_PORT:-54329}
DATA=${PG_DATA:-$PWD/var/postgres}
URL="postgres://console@127.0.0.1:$PORT/console"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$BIN" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# As root, the server runs as `postgres`, which may not be able to reach a checkout under a private home. (var/ made
# first: whether it exists must not change the answer between `start` and `stop`.)
mkdir -p "$PWD/var"
if [ -z "${PG_DATA:-}" ] && [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$PWD/var" 2>/dev/null; then
  DATA=/var/tmp/slices-console-postgres-$PORT
fi

case "${1:-}" in
  start)
    if [ ! -f "$DATA/PG_VERSION" ]; then
      mkdir -p "$DATA"
      [ "$(id -u)" -ne 0 ] || chown postgres: "$DATA"
      as_owner "$BIN/initdb" -D "$DATA" -U console -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      # Tuned for tests and benchmarks on one machine: durable enough to survive a crash of the console,
      # not of the host (nor, unless PG_SYNCHRONOUS_COMMIT=on, of the server: the last commits may be lost). Shared buffers of a quarter of the memory (at most 4 GB), as for a database server:
      # they stay in memory, where the kernel may reclaim its own file cache.
      memory_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
      buffers_mb=$(( memory_mb / 4 > 4096 ? 4096 : memory_mb / 4 ))
      as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c max_connections=300 -c shared_buffers=${buffers_mb}MB \
         -c effective_cache_size=$(( memory_mb / 2 ))MB -c synchronous_commit=${PG_SYNCHRONOUS_COMMIT:-off} -c fsync=off \
         -c full_page_writes=off -c work_mem=16MB" >/dev/null
    fi
    as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U console -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'console'" | grep -q 1 ||
      as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U console console
    echo "$URL"
    ;;
  stop)
    if [ -f "$DATA/PG_VERSION" ]; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || true; fi
    ;;
  crash)
    if [ -f "$DATA/PG_VERSION" ]; then as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null; fi
    ;;
  url)
    echo "$URL"
    ;;
  *)
    echo "usage: $0 start|stop|crash|url" >&2
    exit 2
    ;;
esac
