"""No modal dialog and no nested event loop while a session runs (issue 16, item 2).

Under qasync a nested ``exec()`` runs the call's asyncio callbacks from inside another
task's step ("Cannot enter into task … RTCDtlsTransport") and covers "I'm OK"; with no
keyring and an intention written, the passphrase dialog did exactly that. Anything that
needs a person's answer is asked before the session, or inside the window."""

from __future__ import annotations

import ast
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from companion.app.journal import Journal
from companion.records.private import NoteKind
from tests.ui.conftest import RunUi, UiClinic, patient_joined, settle, shots
from tests.waiting import until

UI = Path(__file__).resolve().parents[2] / "companion" / "ui"

# Calls that open a modal dialog or spin a nested event loop.
_NESTING_METHODS = {"exec", "exec_", "processEvents"}
_STATIC_DIALOGS = {
    "QInputDialog": None,  # every getText/getInt/getItem…
    "QFileDialog": None,  # getOpenFileName, getExistingDirectory, getSaveFileName…
    "QColorDialog": None,
    "QFontDialog": None,
    "QMessageBox": {"question", "information", "warning", "critical", "about", "aboutQt"},
}


def modal_calls(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, node.func.value
            if name in _NESTING_METHODS or name in ("setModal", "setWindowModality"):
                found.append(f"line {node.lineno}: .{name}()")
            elif isinstance(owner, ast.Name) and owner.id in _STATIC_DIALOGS:
                allowed = _STATIC_DIALOGS[owner.id]
                if (allowed is None and name.startswith("get")) or (allowed and name in allowed):
                    found.append(f"line {node.lineno}: {owner.id}.{name}()")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "QEventLoop"
        ):
            found.append(f"line {node.lineno}: QEventLoop()")
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    source = (
        "box.exec()\nQInputDialog.getText(w, 'a', 'b')\nQMessageBox.question(w, 'a', 'b')\n"
        "QFileDialog.getExistingDirectory(w)\nloop = QEventLoop()\napp.processEvents()\n"
        "dialog.setModal(True)\nQMessageBox(w).show()\nQFileDialog(w).open()\n"
    )
    assert len(modal_calls(source)) == 7


def test_no_window_opens_a_modal_dialog_or_a_nested_event_loop() -> None:
    offenders = {
        str(path.relative_to(UI)): calls
        for path in sorted(UI.rglob("*.py"))
        if (calls := modal_calls(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has no keyring; make sure of it on one that has."""
    # third-party: keyring's backend, made to fail
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())  # type: ignore[no-untyped-call]
    assert isinstance(keyring.get_keyring(), fail.Keyring)


def test_with_no_keyring_the_passphrase_is_asked_before_the_session_on_the_screen(
    run_ui: RunUi, no_keyring: None
) -> None:
    async def test(clinic: UiClinic) -> None:
        async with patient_joined(clinic) as (window, therapist):
            p = window.prepare_screen
            p.intention.setPlainText("To meet my fear kindly.")
            QTest.mouseClick(p.begin, Qt.MouseButton.LeftButton)
            await until(lambda: p.passphrase.isVisible())
            # Asked on the preparation screen itself: no dialog, no session yet.
            assert QApplication.activeModalWidget() is None
            assert window.stack.currentWidget() is p
            assert "no keyring" in p.passphrase.note.text()
            assert p.passphrase.edit.hasFocus() and p.skip_private.isVisible()
            window.grab().save(str(shots("patient") / "patient-prepare-passphrase.png"))
            p.passphrase.edit.setText("short")
            QTest.mouseClick(p.begin, Qt.MouseButton.LeftButton)
            await settle(0.5)
            assert window.stack.currentWidget() is p
            p.passphrase.edit.setText("a calm test passphrase")
            QTest.mouseClick(p.begin, Qt.MouseButton.LeftButton)
            await until(lambda: window.stack.currentWidget() is window.session_screen)
            core = window.core
            assert core is not None and core.records is not None
            await until(lambda: therapist.facts.link == "connected", 20)
            notes = await Journal(core.records).entries(core.session_id, NoteKind.INTENTION)
            assert [n.text for n in notes] == ["To meet my fear kindly."]
            # The call runs, and "I'm OK" can be pressed: nothing covers it.
            assert QApplication.activeModalWidget() is None
            QTest.mouseClick(window.session_screen.ok, Qt.MouseButton.LeftButton)
            await until(lambda: therapist.facts.last_checkin_at is not None)
            # Ending asks inside the window as well.
            s = window.session_screen
            QTest.mouseClick(s.end, Qt.MouseButton.LeftButton)
            await settle(0.2)
            assert QApplication.activeModalWidget() is None
            assert s.end_question.isVisible() and s.end_question.stay.hasFocus()
            QTest.mouseClick(s.end_question.stay, Qt.MouseButton.LeftButton)
            assert not s.end_question.isVisible() and s.ok.hasFocus()

    run_ui(test, timeout_s=60)


def test_starting_without_keeping_the_intention_is_offered(run_ui: RunUi, no_keyring: None) -> None:
    async def test(clinic: UiClinic) -> None:
        async with patient_joined(clinic) as (window, _therapist):
            p = window.prepare_screen
            p.intention.setPlainText("Rest.")
            QTest.mouseClick(p.begin, Qt.MouseButton.LeftButton)
            await until(lambda: p.skip_private.isVisible())
            QTest.mouseClick(p.skip_private, Qt.MouseButton.LeftButton)
            await until(lambda: window.stack.currentWidget() is window.session_screen)
            assert QApplication.activeModalWidget() is None

    run_ui(test)
