#!/usr/bin/env bash
# Render a dynamics report in a headless browser and check that its plots are there.
# Usage: scripts/check_report.sh [CLEANED_DIR] [OUT_DIR]
# Default data: runs/online-retail/cleaned (the README's main job). Installs Debian's chromium when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-runs/online-retail/cleaned}"
out="${2:-runs/report}"
if ! command -v chromium >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
mkdir -p "$out"
.venv/bin/tiderec report --data "$data" --out "$out/report.html"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars)
chromium "${flags[@]}" --dump-dom "file://$(realpath "$out/report.html")" > "$out/rendered.html" 2>/dev/null
chromium "${flags[@]}" --window-size=1200,4000 --screenshot="$(realpath "$out")/report.png" \
  "file://$(realpath "$out/report.html")" >/dev/null 2>&1
.venv/bin/python - "$out" <<'PY'
import sys
from html.parser import HTMLParser
from pathlib import Path

out = Path(sys.argv[1])
found: dict[str, int] = {}


class Count(HTMLParser):
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found[tag] = found.get(tag, 0) + 1
        for key, value in attrs:
            if key == "id" and value:
                found["#" + value] = 1


Count().feed((out / "rendered.html").read_text(encoding="utf-8"))
needed = {"svg": 3, "rect": 1, "polyline": 2, "#timelines": 1, "#migrations": 1, "#trends": 1, "#short-term": 1}
missing = {k: v for k, v in needed.items() if found.get(k, 0) < v}
png = out / "report.png"
if missing or not png.is_file() or png.stat().st_size < 10_000:
    sys.exit(f"report check failed: missing {missing}, screenshot {png.stat().st_size if png.is_file() else 0} bytes")
print(f"report renders: {found.get('svg')} plots, {found.get('polyline')} lines, {found.get('rect')} bars; "
      f"screenshot {png.stat().st_size} bytes at {png}")
PY
