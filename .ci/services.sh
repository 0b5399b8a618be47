#!/usr/bin/env bash
# System packages and services for `make test`: Tesseract OCR, Chromium (the labeling page's browser tests),
# and a throwaway PostgreSQL server on a loopback port.
#
#   .ci/services.sh start   installs tesseract-ocr, chromium and postgresql if missing (root + apt only), starts a
#                           private PostgreSQL cluster and prints `export NLPIPE_TEST_POSTGRES_URL=...` for
#                           eval; prints nothing it cannot do
#   .ci/services.sh stop    stops that cluster and removes its folder
#
# Tests that need PostgreSQL skip when the URL is missing, unless NLPIPE_REQUIRE_SERVICES=1 (set by .ci/run),
# where they fail instead.
set -u
PORT="${NLPIPE_TEST_PG_PORT:-55432}"
DIR="${TMPDIR:-/tmp}/nlpipe-test-pg-$PORT"

log() { echo "services: $*" >&2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_packages() {  # the Debian packages the tests need that are missing, in one apt-get run
  local missing=()
  [ -n "$(pg_bin)" ] || missing+=(postgresql)
  command -v tesseract >/dev/null || missing+=(tesseract-ocr tesseract-ocr-eng)
  command -v chromium >/dev/null || missing+=(chromium chromium-driver)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing ${missing[*]}, which cannot be installed here (needs root and apt-get)"; return 0
  fi
  log "installing ${missing[*]} (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 \
    || log "apt-get could not install ${missing[*]}"
}

as_pg() {  # run a command as the postgres user when we are root (initdb refuses root)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  install_packages
  local bin; bin="$(pg_bin)"
  [ -n "$bin" ] || return 0
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    rm -rf "$DIR"; mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_pg "$bin/initdb" -D "$DIR/data" -U nlpipe --auth=trust >/dev/null 2>&1 || { log "initdb failed"; return 0; }
  fi
  if ! as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null 2>&1 \
      || { log "PostgreSQL did not start; see $DIR/log"; return 0; }
  fi
  as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U nlpipe -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='nlpipe_test'" | grep -q 1 \
    || as_pg "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U nlpipe nlpipe_test
  echo "export NLPIPE_TEST_POSTGRES_URL=postgresql+psycopg://nlpipe@127.0.0.1:$PORT/nlpipe_test"
}

stop() {
  local bin; bin="$(pg_bin)"
  [ -n "$bin" ] && [ -d "$DIR/data" ] && as_pg "$bin/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1
  rm -rf "$DIR"
  return 0
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
