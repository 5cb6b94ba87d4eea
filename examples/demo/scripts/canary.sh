# work.4.2 (canary): deploy | weight | analyse | stop.
# The weight comes in DEPLOY_SESSION_WEIGHT.
. scripts/common.sh
case "$1" in
  deploy) start_service canary "$CANARY_PORT" "$(release)"
          echo "canary $(release) on $CANARY_PORT" ;;
  weight) w="$DEPLOY_SESSION_WEIGHT"
          routes "$BLUE_PORT $((100 - w))" "$CANARY_PORT $w"
          echo "canary weight $w%" ;;
  analyse) "$DS" probe "http://127.0.0.1:$CANARY_PORT/health" --retries 0 --timeout 2s ;;
  stop)   stop_service canary
          echo "canary stopped" ;;
esac
