# Infrastructure-as-Code stand-in: writes the files a real IaC tool would.
. scripts/common.sh
mkdir -p infra
case "$1" in
  init)     echo "plan: router + blue/green slots + canary slot on loopback" > infra/plan.txt ;;
  generate) printf 'router  127.0.0.1\nslots   blue green canary\n' > infra/main.txt ;;
  network)  echo "loopback only; no inbound rules" > infra/network.txt ;;
esac
echo "iac $1: done"
