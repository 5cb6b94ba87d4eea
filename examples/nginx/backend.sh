#!/bin/sh
# Starts and stops one backend of the example: the service is
# `deploy-session serve` (replace `start` with how your service starts).
#
#   backend.sh start NAME PORT VERSION [serve options, e.g. --unhealthy]
#   backend.sh stop NAME
#
# Pid files and logs are kept in $BACKENDS (default .backends).
set -eu
DS="${DEPLOY_SESSION_BIN:-deploy-session}"
BACKENDS="${BACKENDS:-.backends}"
mkdir -p "$BACKENDS"

stop() {
  if [ -s "$BACKENDS/$1.pid" ]; then
    kill "$(cat "$BACKENDS/$1.pid")" 2>/dev/null || true
    rm -f "$BACKENDS/$1.pid"
  fi
}

case "${1:?usage: backend.sh start|stop NAME ...}" in
  start)
    name="$2" port="$3" version="$4"; shift 4
    stop "$name"
    # shellcheck disable=SC2086
    nohup "$DS" serve --port "$port" --version "$version" "$@" \
      --pid-file "$BACKENDS/$name.pid" > "$BACKENDS/$name.log" 2>&1 &
    i=0
    while [ ! -s "$BACKENDS/$name.pid" ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
    [ -s "$BACKENDS/$name.pid" ] || { echo "$name did not start; see $BACKENDS/$name.log" >&2; exit 1; }
    echo "$name: $version on $port"
    ;;
  stop) stop "$2"; echo "$2 stopped" ;;
esac
