"""Joining as a person does (issue 16, item 1): the code read over the phone is enough,
because the app knows its clinic's server; a missing, wrong or unreachable server gets
one plain sentence within a few seconds, and every retry starts afresh."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

import build_installer
from companion.app import CoreOptions, RoleCore
from companion.app.clinic import CLINIC_FILE, clinic_server, normalize_server
from companion.app.joining import BAD_SERVER, NO_SERVER, UNREACHABLE
from companion.ui.patient import PatientWindow, run_patient
from companion.ui.support import SupportWindow
from tests.ui.conftest import RunUi, UiClinic, close_all, shots
from tests.waiting import until

# Generous bound over the 5 s the join screen promises: this guards against a hang on a
# loaded machine; the promise itself is JOIN_WITHIN_S.
ANSWER_WITHIN_S = 9.0


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and never says a word (a wrong address that
    happens to listen, or a captive network): the worst case for a hang."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        for writer in held:
            writer.close()
        server.close()


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws"


def unknown_server(clinic: UiClinic, role: str) -> Callable[[], RoleCore]:
    """An app started with no server: no --server, no link opened, nothing beside it."""
    return lambda: RoleCore(role, "", clinic.options(role))  # type: ignore[arg-type]


async def answered(join: Callable[[], object]) -> bool:
    """Runs ``join()`` (a coroutine) and fails the test if it hangs."""
    started = time.monotonic()
    async with asyncio.timeout(ANSWER_WITHIN_S):
        result = await join()  # type: ignore[misc]
    assert time.monotonic() - started < ANSWER_WITHIN_S
    return bool(result)


def test_the_patient_gets_a_plain_sentence_for_a_missing_wrong_or_silent_server_then_joins(
    run_ui: RunUi,
) -> None:
    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        code = invites["patient"].code
        window = PatientWindow(unknown_server(clinic, "patient"), clinic.folder / "patient")
        window.show()
        screen = window.join_screen
        try:
            # No server known: said at once, and the address field is offered.
            assert not await answered(lambda: window.join(code))
            assert screen.message.text() == NO_SERVER
            assert screen.server_box.isVisible()
            # Not an address at all.
            screen.server.setText("my clinic")
            assert not await answered(lambda: window.join(code))
            assert screen.message.text() == BAD_SERVER
            # An address where nothing answers, or something that never speaks.
            screen.server.setText(closed_port())
            assert not await answered(lambda: window.join(code))
            assert screen.message.text() == UNREACHABLE
            async with silent_server() as silent:
                screen.server.setText(silent)
                assert not await answered(lambda: window.join(code))
                assert screen.message.text() == UNREACHABLE
            assert window.core is None and screen.join.isEnabled()
            window.grab().save(str(shots("patient") / "patient-join-unreachable.png"))
            # The right address, typed after all that: in, with no restart.
            screen.server.setText(clinic.server.ws_url)
            assert await answered(lambda: window.join(code))
            assert window.stack.currentWidget() is window.prepare_screen
            # ... and remembered for the next code read over the phone.
            assert clinic_server(clinic.folder / "patient") == clinic.server.ws_url
        finally:
            await close_all(window, cores=[therapist])

    run_ui(test)


def test_the_support_app_says_the_same_and_never_hangs(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        code = invites["support"].code
        window = SupportWindow(unknown_server(clinic, "support"))
        window.show()
        try:
            assert not await answered(lambda: window.join(code))
            assert window.join_message.text() == NO_SERVER
            async with silent_server() as silent:
                window.server.setText(silent)
                assert not await answered(lambda: window.join(code))
                assert window.join_message.text() == UNREACHABLE
            window.server.setText(clinic.server.ws_url)
            assert await answered(lambda: window.join(code))
            assert window.stack.currentWidget() is window.board
        finally:
            await close_all(window, cores=[therapist])

    run_ui(test)


def test_a_code_alone_joins_through_the_server_remembered_from_a_link(
    run_ui: RunUi, monkeypatch: pytest.MonkeyPatch
) -> None:
    import companion.ui.patient as patient_app

    monkeypatch.setattr(
        patient_app,
        "CoreOptions",
        lambda **kw: CoreOptions(**kw, audio=False, video=(160, 120, 10)),
    )

    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        data_dir = clinic.folder / "patient"
        # Last week: the patient clicked the link from the clinic's email.
        first = PatientWindow(clinic.maker("patient"), data_dir)
        assert await first.join(invites["patient"].link)
        assert first.core is not None
        await first.core.signaling.leave()
        await close_all(first)
        # Today: the app is opened with nothing but the code read over the phone.
        created = await therapist.signaling.create_session("next week")
        code = next(i.code for i in created.invites if i.role == "patient")
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        before = set(QApplication.topLevelWidgets())
        running = asyncio.ensure_future(run_patient(app, "", code, data_dir, True))
        try:
            await until(
                lambda: any(
                    isinstance(w, PatientWindow)
                    for w in set(QApplication.topLevelWidgets()) - before
                )
            )
            window = next(
                w
                for w in set(QApplication.topLevelWidgets()) - before
                if isinstance(w, PatientWindow)
            )
            await until(lambda: window.stack.currentWidget() is window.prepare_screen, 10)
            assert not window.join_screen.server_box.isVisible()
            window.close()
            assert await asyncio.wait_for(running, 10) == 0
        finally:
            running.cancel()
            await therapist.close()

    run_ui(test)


def test_the_clinic_sets_its_server_when_it_builds_the_app(tmp_path: Path) -> None:
    app = tmp_path / "pyinstaller-output"
    app.mkdir()
    (app / "companion").write_text("#!/bin/sh\n", encoding="utf-8")
    folder = build_installer.assemble(
        app, tmp_path / "dist", "companion-test", "0", server="wss://clinic.example/ws"
    )
    assert json.loads((folder / CLINIC_FILE).read_text()) == {"server": "wss://clinic.example/ws"}
    # The app reads it from beside itself when its own data folder knows nothing.
    data_dir = tmp_path / "data"
    assert clinic_server(data_dir, app_dir=folder) == "wss://clinic.example/ws"
    # A server remembered from a link the patient opened comes first.
    (data_dir).mkdir()
    (data_dir / CLINIC_FILE).write_text(json.dumps({"server": "ws://127.0.0.1:9/ws"}))
    assert clinic_server(data_dir, app_dir=folder) == "ws://127.0.0.1:9/ws"
    assert "clinic.json" in build_installer.install_script("0")


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("wss://clinic.example/ws", "wss://clinic.example/ws"),
        ("https://clinic.example/ws", "wss://clinic.example/ws"),
        ("clinic.example", "wss://clinic.example/ws"),
        ("ws://127.0.0.1:8765", "ws://127.0.0.1:8765/ws"),
        ("my clinic", None),
        ("ftp://clinic.example/ws", None),
        ("", None),
    ],
)
def test_server_addresses_as_people_type_them(typed: str, url: str | None) -> None:
    assert normalize_server(typed) == url
