# Zero data loss, checked rather than assumed: the orders store has the same
# checksum after the deployment as before it (work.3.6 snapshots it,
# work.4.6 compares).
. scripts/common.sh
mkdir -p data reports
[ -f data/orders.jsonl ] || printf '{"order":1,"total":"12.50"}\n{"order":2,"total":"7.00"}\n{"order":3,"total":"31.25"}\n' > data/orders.jsonl
orders=$(wc -l < data/orders.jsonl | tr -d ' ')
case "${1:-}" in
  snapshot)
    cksum < data/orders.jsonl > reports/data-before.txt
    echo "orders store: $orders orders, checksum $(cut -d' ' -f1 reports/data-before.txt)"
    ;;
  verify)
    cksum < data/orders.jsonl > reports/data-after.txt
    if cmp -s reports/data-before.txt reports/data-after.txt; then
      echo "orders store unchanged through the deployment: $orders orders, checksum $(cut -d' ' -f1 reports/data-after.txt)"
    else
      echo "the orders store changed during the deployment" >&2
      exit 1
    fi
    ;;
  *) echo "usage: data.sh snapshot|verify" >&2; exit 2 ;;
esac
