# start.3.1: can we act on the environment? (here: the tools the demo needs)
. scripts/common.sh
command -v "$DS" >/dev/null || { echo "deploy-session is not on PATH and DEPLOY_SESSION_BIN is unset" >&2; exit 1; }
echo "environment ok: $("$DS" --version), sh at $(command -v sh)"
