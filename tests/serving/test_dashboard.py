"""The dashboard served by `tiderec serve`, rendered in headless Chromium (Debian `chromium`, installed by
scripts/setup.sh): its sections are in the rendered page and the screenshot shows the timeline's bars."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
from PIL import Image

from tests.serving.conftest import write_shop
from tiderec.dynamics.plot import PALETTE
from tiderec.serving.keys import KeyStore
from tiderec.serving.service import server_secret
from tiderec.storage import Database
from tiderec.testing.server import free_port, start_server

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage"]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_the_dashboard_renders_its_plots_in_headless_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "headless Chromium is needed: scripts/setup.sh installs Debian's chromium"
    cleaned = write_shop(tmp_path)
    (tmp_path / "db").mkdir()
    db = str(tmp_path / "db" / "t.sqlite")
    key = KeyStore(Database(db), server_secret(tmp_path / "db")).create("dash", ["ingest", "read"])
    port = free_port()
    proc = start_server(["--data", str(cleaned), "--db", db, "--secret-dir", str(tmp_path / "db"), "--no-query"], port)
    try:
        shoes = [{"user_id": "ana", "item_id": f"i{k % 5}", "ts": 1_700_000_000 + 3600 * k} for k in range(8)]
        tents = [{"user_id": "ana", "item_id": f"i{5 + k % 5}", "ts": 1_700_200_000 + 3600 * k} for k in range(8)]
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/events", json={"events": shoes + tents},
                            headers={"X-API-Key": key})  # fmt: skip
        assert answer.status_code == 200, answer.text
        url = f"http://127.0.0.1:{port}/dashboard/ana?key={key}"
        dom = subprocess.run([chromium, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        for section in ("timeline", "migrations", "recommendations", "trends"):
            assert f'id="{section}"' in dom, section
        assert dom.count("<rect") >= 2
        assert "Traceback" not in dom
        png = tmp_path / "dashboard.png"
        subprocess.run([chromium, *FLAGS, "--window-size=1000,1200", f"--screenshot={png}", url],
                       capture_output=True, timeout=120, check=True)  # fmt: skip
        image = Image.open(png).convert("RGB")
        counts = {colour: n for n, colour in image.getcolors(maxcolors=1 << 20) or []}
        bars = [c for c in PALETTE if counts.get(_rgb(c), 0) >= 200]
        assert len(bars) >= 2, f"plot colours in the screenshot: {bars}"
    finally:
        proc.kill()
        proc.wait()
