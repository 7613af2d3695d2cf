"""The three apps' main screens in Spanish at 1366×768 on a real X server (Xvfb), with
nothing cut off: words ~25 % longer than the English must still fit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.ui.conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.slow


def test_the_main_screens_in_spanish_fit_1366_by_768() -> None:
    out = SCREENSHOTS / "language"
    shutil.rmtree(out / "es", ignore_errors=True)
    env = dict(os.environ)
    command = [sys.executable, str(ROOT / "tools" / "language_screenshots.py"),
               "--language", "es", "--out", str(out)]  # fmt: skip
    if shutil.which("xvfb-run"):
        env["QT_QPA_PLATFORM"] = "xcb"
        command = ["xvfb-run", "-a", "-s", "-screen 0 1366x768x24", *command]
    else:  # no Xvfb here: the same run on the offscreen platform
        env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=110, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    print(f"screenshots: {out / 'es'}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["language"] == "es"
    assert len(result["screens"]) == 18, result["screens"]
    for name in result["screens"]:
        assert (out / "es" / name).stat().st_size > 10_000, name
    assert result["cut_off"] == [], "\n".join(result["cut_off"])
