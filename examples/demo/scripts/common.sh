# Shared by the demo scripts. Needs only a POSIX shell and deploy-session.
set -eu
DS="${DEPLOY_SESSION_BIN:-deploy-session}"
STATE=.demo
mkdir -p "$STATE"
release() { cat "$STATE/release" 2>/dev/null || echo v1; }

# start_service NAME PORT VERSION: (re)start a service in the background.
start_service() {
  stop_service "$1"
  unhealthy=""
  case "$3" in *-broken) unhealthy="--unhealthy" ;; esac
  nohup "$DS" serve --port "$2" --version "$3" $unhealthy \
    --pid-file "$STATE/$1.pid" ${DEPLOY_SESSION_DEMO_PID:+--exit-with "$DEPLOY_SESSION_DEMO_PID"} \
    > "$STATE/$1.log" 2>&1 &
  wait_for_pid "$1"
}

# start_router PORT: the live URL, routing by $STATE/routes — the tool's own
# router, or nginx with `deploy-session demo --proxy nginx`.
start_router() {
  stop_service router
  if [ "${DEPLOY_SESSION_PROXY:-}" = nginx ]; then
    # shellcheck disable=SC2046
    IFS='
' sh nginx/proxy.sh start "$STATE/nginx" "$1" $(cat "$STATE/routes") > "$STATE/router.log" 2>&1 \
      || { cat "$STATE/router.log" >&2; exit 1; }
    cp "$STATE/nginx/nginx.pid" "$STATE/router.pid"
    return
  fi
  nohup "$DS" serve --port "$1" --routes "$STATE/routes" \
    --pid-file "$STATE/router.pid" ${DEPLOY_SESSION_DEMO_PID:+--exit-with "$DEPLOY_SESSION_DEMO_PID"} \
    > "$STATE/router.log" 2>&1 &
  wait_for_pid router
}

wait_for_pid() {
  i=0
  while [ ! -s "$STATE/$1.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  [ -s "$STATE/$1.pid" ] || { echo "$1 did not start; see $STATE/$1.log" >&2; exit 1; }
}

stop_service() {
  if [ -s "$STATE/$1.pid" ]; then
    kill "$(cat "$STATE/$1.pid")" 2>/dev/null || true
    rm -f "$STATE/$1.pid"
  fi
}

# routes "PORT WEIGHT" ...: replace the routing table in one rename (and,
# behind nginx, reload it gracefully with the new upstream).
routes() {
  : > "$STATE/routes.next"
  for r in "$@"; do echo "$r" >> "$STATE/routes.next"; done
  mv "$STATE/routes.next" "$STATE/routes"
  if [ "${DEPLOY_SESSION_PROXY:-}" = nginx ] && [ -s "$STATE/router.pid" ]; then
    sh nginx/proxy.sh upstream "$STATE/nginx" "$@" >> "$STATE/router.log"
  fi
}

port_of() { echo "${1##*:}"; }
