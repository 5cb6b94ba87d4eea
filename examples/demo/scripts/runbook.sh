# work.5.2: the operations runbook.
. scripts/common.sh
mkdir -p docs
cat > docs/runbook.md <<DOC
# Runbook
- Live URL: the router; health at /health.
- Roll back: switch the router back (scripts/slot.sh switch with the previous slot).
DOC
echo "runbook written"
