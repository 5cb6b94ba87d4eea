#!/bin/sh
# Rolling behind nginx (kind `strategy`, rolling), one target at a time:
#   deploy:   drain $DEPLOY_SESSION_TARGET in nginx (no new requests; the
#             reload waits for those in flight), restart it with $RELEASE,
#             wait until it answers, put it back
#   rollback: the same with $PREVIOUS_RELEASE
# TARGET_PORTS lists every target's port; the target's own is taken from
# $DEPLOY_SESSION_TARGET_URL.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
DS="${DEPLOY_SESSION_BIN:-deploy-session}"
port="${DEPLOY_SESSION_TARGET_URL##*:}"
case "$1" in
  deploy) release="$RELEASE" ;;
  rollback) release="$PREVIOUS_RELEASE"; RELEASE_FLAGS="" ;;
  *) echo "usage: rolling.sh deploy|rollback" >&2; exit 2 ;;
esac

upstream() { # upstream WEIGHT_OF_THE_TARGET
  target_weight="$1"
  set --
  for p in $TARGET_PORTS; do
    if [ "$p" = "$port" ]; then set -- "$@" "$p $target_weight"; else set -- "$@" "$p 1"; fi
  done
  sh "$here/proxy.sh" upstream "$NGINX_DIR" "$@"
}

upstream down
# shellcheck disable=SC2086
sh "$here/backend.sh" start "$DEPLOY_SESSION_TARGET" "$port" "$release" ${RELEASE_FLAGS:-}
"$DS" probe "$DEPLOY_SESSION_TARGET_URL/health" --timeout 5s --interval 50ms >/dev/null || {
  echo "$DEPLOY_SESSION_TARGET does not answer after the restart; it stays drained" >&2
  exit 1
}
upstream 1
