#!/usr/bin/env bash
# The demo: a devnet with the real protocol contracts, 1,000 seeded borrowers, a 20% WETH crash,
# and the positions that became liquidatable. Runs on its own port and directory and stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
LIQBOT=".venv/bin/liqbot"
DIR=".devnet/demo"
PORT="${LIQBOT_DEMO_PORT:-18545}"

if [ -f "$DIR/devnet.json" ]; then "$LIQBOT" devnet down --dir "$DIR" >/dev/null 2>&1 || true; fi
"$LIQBOT" devnet up --dir "$DIR" --port "$PORT" --block-time 1
trap '"$LIQBOT" devnet down --dir "$DIR"' EXIT
"$LIQBOT" devnet populate --dir "$DIR" --borrowers 1000 --seed 42
"$LIQBOT" devnet liquidatable --dir "$DIR"
"$LIQBOT" devnet shock --dir "$DIR" --asset WETH --pct -20
"$LIQBOT" devnet liquidatable --dir "$DIR"
