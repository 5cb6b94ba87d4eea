# work.4.2 (blue-green): deploy to the idle slot, or switch traffic to it.
. scripts/common.sh
port="$(port_of "$DEPLOY_SESSION_SLOT_URL")"
case "$1" in
  deploy) start_service "$DEPLOY_SESSION_SLOT" "$port" "$(release)"
          echo "$(release) on $DEPLOY_SESSION_SLOT ($port)" ;;
  switch) routes "$port 100"
          echo "traffic -> $DEPLOY_SESSION_SLOT (was $DEPLOY_SESSION_PREVIOUS_SLOT)" ;;
esac
