#!/usr/bin/env bash
# Start the service on a cleaned catalogue, send a shopper's events, render the dashboard in headless Chromium
# and check its plots. Usage: scripts/check_dashboard.sh [CLEANED_DIR] [OUT_DIR]
# Default data: runs/online-retail/cleaned (the README's main job). Installs Debian's chromium when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-runs/online-retail/cleaned}"
out="${2:-runs/dashboard}"
port=8799
if ! command -v chromium >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
mkdir -p "$out"
db="$out/tiderec.sqlite"
key=$(.venv/bin/tiderec keys create dashboard --scope read --scope ingest --db "$db")
.venv/bin/tiderec serve --data "$data" --db "$db" --port "$port" > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "localhost:$port/readyz" >/dev/null && break; sleep 1; done
items=$(.venv/bin/python - "$data" <<'PY'
import json, sys
import polars as pl
ids = pl.read_parquet(f"{sys.argv[1]}/items.parquet")["item_id"].head(12).to_list()
events = [{"user_id": "dashboard-demo", "item_id": i, "ts": 1_700_000_000 + 3600 * k, "event_type": "view"}
          for k, i in enumerate(ids)]
print(json.dumps({"events": events}))
PY
)
curl -sf -X POST "localhost:$port/v1/events" -H "X-API-Key: $key" -H 'content-type: application/json' -d "$items" >/dev/null
url="http://localhost:$port/dashboard/dashboard-demo?key=$key"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars)
chromium "${flags[@]}" --dump-dom "$url" > "$out/rendered.html" 2>/dev/null
chromium "${flags[@]}" --window-size=1200,2000 --screenshot="$(realpath "$out")/dashboard.png" "$url" >/dev/null 2>&1
.venv/bin/python - "$out" <<'PY'
import sys
from pathlib import Path

out = Path(sys.argv[1])
dom = (out / "rendered.html").read_text(encoding="utf-8")
needed = ["<svg", "<rect", "id=\"timeline\"", "id=\"recommendations\"", "id=\"migrations\"", "id=\"trends\""]
missing = [n for n in needed if n not in dom.replace("'", '"')]
png = out / "dashboard.png"
if missing or not png.is_file() or png.stat().st_size < 10_000:
    sys.exit(f"dashboard check failed: missing {missing}, screenshot {png.stat().st_size if png.is_file() else 0} bytes")
print(f"dashboard renders: {dom.count('<rect')} bars; screenshot {png.stat().st_size} bytes at {png}")
PY
