# Monitoring setup: what to watch, and (with `alerts`) when to page.
. scripts/common.sh
mkdir -p monitoring
if [ "${1:-}" = alerts ]; then
  echo "page when http://127.0.0.1:$ROUTER_PORT/health fails 3 times in a row" > monitoring/alerts.txt
else
  echo "probe http://127.0.0.1:$ROUTER_PORT/health every 10s" > monitoring/probes.txt
fi
echo "monitoring ${1:-probes} configured"
