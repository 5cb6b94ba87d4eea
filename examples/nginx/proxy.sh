#!/bin/sh
# nginx as the switch of a deployment: start it, change its backends with a
# graceful reload, stop it. Copy it and keep the interface:
#
#   proxy.sh start DIR PORT "BACKEND_PORT WEIGHT"...   nginx on 127.0.0.1:PORT
#   proxy.sh upstream DIR "BACKEND_PORT WEIGHT"...     new weights, reloaded
#   proxy.sh stop DIR
#
# WEIGHT is a number (0 = no traffic) or `down` (drained: no new requests).
# DIR keeps nginx.conf, upstream.conf, nginx.pid, logs/ and tmp/ — nothing
# outside it is written, so no root is needed. NGINX names the binary.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
NGINX="${NGINX:-nginx}"

ngx() { "$NGINX" -p "$DIR/" -c nginx.conf -e logs/error.log "$@"; }

# The upstream block's servers for "PORT WEIGHT" pairs.
servers() {
  any=""
  for pair in "$@"; do
    backend="${pair%% *}"; weight="${pair##* }"
    case "$weight" in
      down) echo "server 127.0.0.1:$backend down;" ;;
      0) ;;
      *) echo "server 127.0.0.1:$backend weight=$weight;"; any=1 ;;
    esac
  done
  # nginx needs one server; with no weight anywhere, requests get 502.
  [ -n "$any" ] || echo "server 127.0.0.1:9 down;"
}

master() { cat "$DIR/nginx.pid" 2>/dev/null || true; }

workers() { ps -o pid= --ppid "$(master)" 2>/dev/null || true; }

# Waits until none of the given pids is alive (at most 10 s).
gone() {
  i=0
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null; do
      i=$((i + 1))
      [ $i -lt 1000 ] || { echo "nginx worker $pid did not finish in 10s" >&2; return 1; }
      sleep 0.01
    done
  done
}

cmd="${1:?usage: proxy.sh start|upstream|stop DIR ...}"
DIR="${2:?the folder for nginx's files}"
shift 2
case "$cmd" in
  start)
    port="${1:?the port to listen on}"; shift
    mkdir -p "$DIR/logs" "$DIR/tmp"
    sed "s/@PORT@/$port/" "$here/nginx.conf" > "$DIR/nginx.conf"
    servers "$@" > "$DIR/upstream.conf"
    ngx
    i=0
    while [ -z "$(master)" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
    [ -n "$(master)" ] || { echo "nginx did not start; see $DIR/logs/error.log" >&2; exit 1; }
    echo "nginx $(master) on 127.0.0.1:$port"
    ;;
  upstream)
    cp "$DIR/upstream.conf" "$DIR/upstream.conf.before"
    servers "$@" > "$DIR/upstream.conf.next"
    mv "$DIR/upstream.conf.next" "$DIR/upstream.conf"
    if ! ngx -t -q; then
      mv "$DIR/upstream.conf.before" "$DIR/upstream.conf"
      echo "nginx refused the new upstream; the old one stays" >&2
      exit 1
    fi
    old="$(workers)"
    ngx -s reload
    # The old workers finish their requests and exit: from then on every
    # request follows the new upstream.
    # shellcheck disable=SC2086
    gone $old
    echo "upstream: $(grep -c '^server' "$DIR/upstream.conf") servers; $*"
    ;;
  stop)
    pid="$(master)"
    [ -n "$pid" ] || exit 0
    ngx -s quit 2>/dev/null || kill "$pid" 2>/dev/null || true
    gone "$pid" || kill -9 "$pid" 2>/dev/null || true
    echo "nginx stopped"
    ;;
  *) echo "usage: proxy.sh start|upstream|stop DIR ..." >&2; exit 2 ;;
esac
