"""Screenshots of every screen of the patient's app, for real: an embedded server, a
therapist core and the patient's window with synthetic media, driven through join (a
wrong code, then the right one), prepare, the session (a check-in request, a pushed
breathing prompt) and the after screen.

    xvfb-run -a python tools/patient_screenshots.py [--out DIR] [--audio]

``--audio`` opens the patient's real audio engine (with a file-backed ALSA device in the
tests) and plays the device check's test sound. Prints the folder, and one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from companion.app import CALM_DARK, CoreOptions, RoleCore  # noqa: E402
from companion.server.app import ServerConfig, SignalingServer  # noqa: E402
from companion.ui.common import apply_theme, run_qt  # noqa: E402
from companion.ui.patient import PatientWindow  # noqa: E402


async def until(predicate: Callable[[], bool], within_s: float = 20.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.05)


async def main(app: QApplication, out: Path, audio: bool) -> int:
    apply_theme(app, CALM_DARK)
    app.setQuitOnLastWindowClosed(False)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    result: dict[str, object] = {"folder": str(out), "audio": audio}
    with tempfile.TemporaryDirectory(prefix="companion-shots-") as tmp:
        folder = Path(tmp)
        async with SignalingServer(ServerConfig(data_dir=folder / "server", port=0)) as server:
            _, secret = server.db.add_therapist("dr-shots")

            def options(role: str, with_audio: bool) -> CoreOptions:
                return CoreOptions(
                    data_dir=folder / role, fake_media=True, audio=with_audio, video=(320, 240, 15)
                )

            therapist = RoleCore("therapist", server.ws_url, options("therapist", False))
            await therapist.connect()
            await therapist.sign_in("dr-shots", secret)
            created = await therapist.signaling.create_session("screenshots")
            await therapist.open_session(created.session.session_id)
            await therapist.start()
            code = next(i.code for i in created.invites if i.role == "patient")
            window = PatientWindow(
                lambda: RoleCore("patient", server.ws_url, options("patient", audio)),
                folder / "patient",
            )
            window.passphrase = "screenshots passphrase"
            window.resize(1280, 820)
            window.show()
            try:
                await asyncio.sleep(0.5)
                window.grab().save(str(out / "1-join.png"))
                await window.join("ZZZZ-ZZZZ")
                await asyncio.sleep(0.3)
                window.grab().save(str(out / "2-join-wrong-code.png"))
                window.join_screen.code.setText(code)
                assert await window.join(code)
                p = window.prepare_screen
                await until(lambda: p.self_view.frames_shown > 2)
                if audio:
                    await until(lambda: window.core is not None and window.core.audio is not None)
                    p.test_sound.click()
                    result["test_sound"] = True
                p.support_name.setText("Sam")
                p.emergency.setText("112")
                await asyncio.sleep(1.0)
                window.grab().save(str(out / "3-prepare.png"))
                await window.begin_session()
                s = window.session_screen
                await until(lambda: s.video.frames_shown > 3 and "with you" in s.link.text())
                await asyncio.sleep(0.5)
                window.grab().save(str(out / "4-session.png"))
                s.ok.click()
                await therapist.request_checkin()
                await until(lambda: s.request.isVisible())
                await asyncio.sleep(0.6)
                window.grab().save(str(out / "5-session-checkin-requested.png"))
                s.grounding.click()
                await asyncio.sleep(0.3)
                window.grab().save(str(out / "6-session-grounding-list.png"))
                await therapist.push_prompt("box-breathing")
                await until(lambda: s.prompt_box.isVisible())
                await asyncio.sleep(2.2)
                window.grab().save(str(out / "7-session-breathing.png"))
                await therapist.end_session()
                await until(lambda: window.stack.currentWidget() is window.after_screen)
                await asyncio.sleep(0.3)
                window.grab().save(str(out / "8-after.png"))
                result["screens"] = await asyncio.to_thread(
                    lambda: sorted(p.name for p in out.glob("*.png"))
                )
                result["ok"] = True
            finally:
                window.confirm_close = lambda: True
                if window.core is not None:
                    await window.core.close()
                await therapist.close()
                window.close()
    print(f"screenshots: {out}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "test-output/screenshots/patient/xvfb")
    parser.add_argument("--audio", action="store_true")
    args = parser.parse_args()
    sys.exit(run_qt(lambda app: main(app, args.out, args.audio)))
