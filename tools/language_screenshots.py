"""The three apps' main screens in one language, at 1366×768, with a check that no words
are cut off: an embedded server, the therapist's console (signed in, a live session), the
patient's window (join, prepare, session with a check-in request, a grounding prompt,
after) and the support person's board, with synthetic media.

    xvfb-run -a -s "-screen 0 1366x768x24" python tools/language_screenshots.py --language es

A label is cut off when its words need more room than it has (wider than it is, or, when
wrapped, taller); a button when its words are wider than the button. Prints the folder,
and one JSON line last: the screens saved and every cut-off found (app, screen, widget,
words).
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

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QCheckBox,
    QLabel,
    QPushButton,
    QWidget,
)

from companion.app import CALM_DARK, CLEAR_LIGHT, CoreOptions, RoleCore  # noqa: E402
from companion.server.app import ServerConfig, SignalingServer  # noqa: E402
from companion.ui.common import apply_theme, close_core, run_qt  # noqa: E402
from companion.ui.language import LanguagePicker, use_language  # noqa: E402
from companion.ui.patient import PatientWindow  # noqa: E402
from companion.ui.support import SupportWindow, support_window  # noqa: E402
from companion.ui.therapist import TherapistConsole  # noqa: E402

SIZE = (1366, 768)
JOIN_WITHIN_S = 20.0
"""The server and all three apps share this process's one loop, held up for seconds on a
busy computer (screens built, chimes rendered): the apps' 5 s promise to a person is
tested elsewhere; here the screens are what counts."""


async def until(predicate: Callable[[], bool], within_s: float = 20.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.05)


def cut_off(root: QWidget) -> list[str]:
    """Every visible label or button in ``root`` whose words do not fit it."""
    found = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or widget.width() <= 1 or widget.height() <= 1:
            continue
        name = widget.accessibleName() or type(widget).__name__
        if isinstance(widget, QAbstractScrollArea):
            bar = widget.horizontalScrollBar()
            if bar is not None and bar.maximum() > 0:
                found.append(f"{name}: scrolls sideways by {bar.maximum()}px")
            continue
        if isinstance(widget, QLabel) and widget.text():
            text = widget.text()
            rich = widget.textFormat() == Qt.TextFormat.RichText or "<" in text
            if widget.wordWrap() or rich:
                need = widget.heightForWidth(widget.width())
                if need > widget.height() + 2:
                    found.append(f"{name}: {text[:80]!r} needs {need}px of {widget.height()}")
            else:
                metrics = widget.fontMetrics()
                wide = max(metrics.horizontalAdvance(line) for line in text.split("\n"))
                room = widget.contentsRect().width() - 2 * widget.margin() - 2 * widget.indent()
                if wide > room + 2:
                    found.append(f"{name}: {text[:80]!r} is {wide}px wide in {room}")
        elif isinstance(widget, QPushButton | QCheckBox) and widget.text():
            assert isinstance(widget, QAbstractButton)
            lines = widget.text().split("\n")
            wide = max(widget.fontMetrics().horizontalAdvance(line) for line in lines)
            if wide > widget.width() - 8:
                found.append(f"{name}: {widget.text()[:80]!r} is {wide}px wide in {widget.width()}")
    return found


class Shots:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.saved: list[str] = []
        self.cut: list[str] = []

    async def take(self, app: str, screen: str, window: QWidget) -> None:
        await asyncio.sleep(0.4)
        name = f"{app}-{screen}.png"
        # Compressed off the loop: on a busy computer one PNG held it 1.5-2.7 s, and the
        # server and all three apps share it.
        image = window.grab().toImage()
        await asyncio.to_thread(image.save, str(self.out / name))
        self.saved.append(name)
        self.cut += [f"{app} {screen}: {c}" for c in cut_off(window)]
        if window.width() > SIZE[0] or window.height() > SIZE[1]:
            # Its words need more than the screen: the window outgrew 1366×768.
            self.cut.append(f"{app} {screen}: window {window.width()}×{window.height()}")


async def main(app: QApplication, out: Path, language: str) -> int:
    use_language(language)
    app.setQuitOnLastWindowClosed(False)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    shots = Shots(out)
    result: dict[str, object] = {"folder": str(out), "language": language}
    with tempfile.TemporaryDirectory(prefix="companion-lang-") as tmp:
        folder = Path(tmp)
        async with SignalingServer(ServerConfig(data_dir=folder / "server", port=0)) as server:
            _, secret = server.db.add_therapist("dr-shots")

            def options(role: str) -> CoreOptions:
                return CoreOptions(
                    data_dir=folder / role, fake_media=True, audio=False, video=(320, 240, 15)
                )

            apply_theme(app, CLEAR_LIGHT)
            console = TherapistConsole(server.ws_url, folder / "therapist", fake_media=True)
            console.tabs.widget(0).layout().insertWidget(1, LanguagePicker(None))  # type: ignore[union-attr]
            console.resize(*SIZE)
            console.show()
            patient: PatientWindow | None = None
            support: SupportWindow | None = None
            try:
                await shots.take("therapist", "1-sign-in", console)
                assert await console.sign_in("dr-shots", secret)
                session_id, invites = await console.create_session("Sesión de prueba")
                await shots.take("therapist", "2-sessions", console)
                core = await console.open_live(session_id)
                live = console.live[session_id]

                apply_theme(app, CALM_DARK)
                patient = PatientWindow(
                    lambda: RoleCore("patient", server.ws_url, options("patient")),
                    folder / "patient",
                )
                patient.passphrase = "screenshots passphrase"
                patient.join_screen.offer_language(LanguagePicker(None))
                patient.prepare_screen.offer_language(LanguagePicker(None, now=lambda: False))
                patient.resize(*SIZE)
                patient.show()
                await shots.take("patient", "1-join", patient)
                assert await patient.join(invites["patient"].code, JOIN_WITHIN_S)
                prepare = patient.prepare_screen
                prepare.support_name.setText("Sam")
                prepare.emergency.setText("911")
                await shots.take("patient", "2-prepare", patient)
                await patient.begin_session()
                s = patient.session_screen
                await until(lambda: core.facts.link == "connected" and s.video.frames_shown > 2)
                await shots.take("patient", "3-session", patient)

                apply_theme(app, CLEAR_LIGHT)
                # As run_support makes it: a language picker on the join page and the board.
                support = support_window(
                    lambda: RoleCore("support", server.ws_url, options("support")), None
                )
                support.resize(*SIZE)
                support.show()
                await shots.take("support", "1-join", support)
                joined = await support.join(invites["support"].code, JOIN_WITHIN_S)
                assert joined, support.join_message.text()
                await shots.take("support", "2-board", support)

                await core.request_checkin()
                await until(lambda: s.request.isVisible())
                await shots.take("patient", "4-checkin-requested", patient)
                s.grounding.click()
                await shots.take("patient", "5-grounding-list", patient)
                await core.push_prompt("box-breathing")
                await until(lambda: s.prompt_box.isVisible())
                await shots.take("patient", "6-breathing", patient)

                for index in range(live.tabs.count()):
                    live.tabs.setCurrentIndex(index)
                    await shots.take("therapist", f"3-live-{index}", console)

                await core.end_session()
                await until(
                    lambda: (
                        patient is not None
                        and patient.stack.currentWidget() is patient.after_screen
                    )
                )
                await shots.take("patient", "7-after", patient)
                await until(lambda: live.tabs.currentIndex() == live.tabs_summary_index)
                await shots.take("therapist", "4-summary", console)
                await shots.take("support", "3-ended", support)
                result["ok"] = True
            finally:
                # Each close bounded (as the apps' own are): the JSON line must come.
                for window in (patient, support):
                    if window is not None:
                        await close_core(window.core)
                if patient is not None:
                    patient.confirm_close = lambda: True
                    patient.close()
                await console.close_all()
                console.close()
                if support is not None:
                    support.close()
    result["screens"] = shots.saved
    result["cut_off"] = shots.cut
    print(f"screenshots: {out}")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="es")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output/screenshots/language")
    args = parser.parse_args()
    sys.exit(run_qt(lambda app: main(app, args.out / args.language, args.language)))
