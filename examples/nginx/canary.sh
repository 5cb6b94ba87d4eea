#!/bin/sh
# Canary behind nginx (kind `strategy`, canary):
#   deploy:  start $RELEASE on $CANARY_PORT (no traffic yet)
#   weight:  $DEPLOY_SESSION_WEIGHT % of new requests to the canary, the
#            rest to $STABLE_PORT — weighted upstream servers, one reload
#   stop:    stop the canary (after a rollback set its weight to 0)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
case "$1" in
  # shellcheck disable=SC2086
  deploy) sh "$here/backend.sh" start canary "$CANARY_PORT" "$RELEASE" ${RELEASE_FLAGS:-} ;;
  weight) w="$DEPLOY_SESSION_WEIGHT"
          sh "$here/proxy.sh" upstream "$NGINX_DIR" "$STABLE_PORT $((100 - w))" "$CANARY_PORT $w" ;;
  stop)   sh "$here/backend.sh" stop canary ;;
esac
