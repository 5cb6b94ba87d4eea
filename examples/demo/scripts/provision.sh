# work.2.2: the live service (blue, v1) behind the router.
. scripts/common.sh
start_service blue "$BLUE_PORT" v1
routes "$BLUE_PORT 100"
start_router "$ROUTER_PORT"
echo "blue v1 on $BLUE_PORT behind the router on $ROUTER_PORT"
