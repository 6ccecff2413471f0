#!/usr/bin/env bash
# Debian packages the tests and benchmarks need beside the Python ones, installed when missing.
#   scripts/system-packages.sh chromium postgresql prometheus
# (prometheus: for its promtool, which checks and tests deploy/prometheus/alerts.yml)
# As root (or with password-less sudo) they are installed with apt-get; otherwise the one command to run is printed
# and the script fails, so `make test` stops with that message rather than at the first browser test.
set -euo pipefail

missing=()
for package in "$@"; do
  case "$package" in
    chromium) [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM}" ] || command -v chromium >/dev/null 2>&1 || missing+=(chromium) ;;
    postgresql) ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql) ;;
    prometheus) command -v promtool >/dev/null 2>&1 || missing+=(prometheus) ;;
    *) echo "system-packages.sh: unknown package $package" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "The tests need Debian's ${missing[*]}, which is not installed. Install it once with:" >&2
  echo "    sudo apt-get install -y ${missing[*]}" >&2
  echo "(or point CHROMIUM=/path/to/chromium at another Chromium), then run make again." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "The tests need ${missing[*]} and this machine has no apt-get: install it with the system's package manager." >&2
  exit 1
fi
echo "Installing Debian's ${missing[*]} (needed by the tests)..."
"${SUDO[@]}" apt-get update -qq
for package in "${missing[@]}"; do
  options=()
  # prometheus: promtool is what the tests need, not the node exporter the package recommends (another daemon).
  [ "$package" = prometheus ] && options=(--no-install-recommends)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${options[@]}" "$package" >/dev/null
done
