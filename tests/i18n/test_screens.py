"""The three apps' main screens in Spanish at 1366×768 on a real X server (Xvfb), with
nothing cut off: words ~25 % longer than the English must still fit."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.ui.conftest import SCREENSHOTS, run_tool

pytestmark = pytest.mark.slow


def test_the_main_screens_in_spanish_fit_1366_by_768() -> None:
    out = SCREENSHOTS / "language"
    shutil.rmtree(out / "es", ignore_errors=True)
    result = run_tool(
        "language_screenshots.py",
        ["--language", "es", "--out", str(out)],
        dict(os.environ),
        screen="1366x768x24",
        timeout_s=110,
    )
    print(f"screenshots: {out / 'es'}")
    assert result["ok"] and result["language"] == "es"
    assert len(result["screens"]) == 18, result["screens"]
    for name in result["screens"]:
        assert (out / "es" / name).stat().st_size > 10_000, name
    assert result["cut_off"] == [], "\n".join(result["cut_off"])
