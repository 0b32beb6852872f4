#!/usr/bin/env bash
# The demo: a devnet with the real protocol contracts and 1,000 seeded borrowers; liqbot in flash mode
# (its executor contract, flash loans, Uniswap swaps); a 20% WETH crash; then what it liquidated, the
# profit realized from the receipts, and the time from the price update to inclusion.
# Runs on its own port and directory and stops what it starts, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
LIQBOT=".venv/bin/liqbot"
DIR=".devnet/demo"
PORT="${LIQBOT_DEMO_PORT:-18545}"
MODE="${LIQBOT_DEMO_MODE:-flash}"
BOT_PID=""
# anvil's public dev account #5: the devnet executor contract allows it. Never a real key.
export LIQBOT_SIGNER_KEY="0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"

cleanup() {
  if [ -n "$BOT_PID" ] && kill -0 "$BOT_PID" 2>/dev/null; then kill -TERM "$BOT_PID"; wait "$BOT_PID" || true; fi
  "$LIQBOT" devnet down --dir "$DIR" >/dev/null 2>&1 || true
}

if [ -f "$DIR/devnet.json" ]; then "$LIQBOT" devnet down --dir "$DIR" >/dev/null 2>&1 || true; fi
rm -f "$DIR"/liqbot.db* "$DIR"/borrowers-*.json "$DIR"/bot.log
"$LIQBOT" devnet up --dir "$DIR" --port "$PORT" --block-time 1
trap cleanup EXIT
"$LIQBOT" devnet populate --dir "$DIR" --borrowers 1000 --seed 42
"$LIQBOT" config check "$DIR/liqbot.yaml" >/dev/null && echo "config $DIR/liqbot.yaml: OK"

echo "starting liqbot in $MODE mode (log: $DIR/bot.log)"
"$LIQBOT" run --config "$DIR/liqbot.yaml" --mode "$MODE" --no-metrics >"$DIR/bot.log" 2>&1 &
BOT_PID=$!
for _ in $(seq 1 120); do grep -q bootstrapped "$DIR/bot.log" && break; sleep 0.25; done
grep -q bootstrapped "$DIR/bot.log" || { echo "liqbot did not start:"; cat "$DIR/bot.log"; exit 1; }
grep bootstrapped "$DIR/bot.log" | tail -2

"$LIQBOT" devnet shock --dir "$DIR" --asset WETH --pct -20
sleep 14
kill -TERM "$BOT_PID"; wait "$BOT_PID" || true; BOT_PID=""
if [ "$MODE" = "shadow" ]; then
  "$LIQBOT" devnet decisions --dir "$DIR"
else
  "$LIQBOT" devnet decisions --dir "$DIR" --live
fi
