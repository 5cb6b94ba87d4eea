# Stops the demo's services (all, or the one named).
. scripts/common.sh
for f in "$STATE"/*.pid; do
  [ -e "$f" ] || continue
  name="$(basename "$f" .pid)"
  if [ "${1:-all}" = all ] || [ "$1" = "$name" ]; then stop_service "$name"; fi
done
echo "stopped ${1:-all}"
