#!/bin/sh
# Blue-green behind nginx (kind `strategy`, blue-green):
#   deploy: start $RELEASE on the idle slot ($DEPLOY_SESSION_SLOT_URL's port)
#   switch: send all new requests to $DEPLOY_SESSION_SLOT — one graceful
#           reload; requests in flight finish on the old slot
# NGINX_DIR is proxy.sh's folder; RELEASE_FLAGS go to the backend.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
port="${DEPLOY_SESSION_SLOT_URL##*:}"
case "$1" in
  # shellcheck disable=SC2086
  deploy) sh "$here/backend.sh" start "$DEPLOY_SESSION_SLOT" "$port" "$RELEASE" ${RELEASE_FLAGS:-} ;;
  switch) sh "$here/proxy.sh" upstream "$NGINX_DIR" "$port 1" ;;
esac
