"""The ``.desktop`` entry and the ``companion://`` link handler (companion.desktop)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import companion.cli
from companion import desktop


@pytest.fixture
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def test_desktop_entry_opens_links_with_the_app() -> None:
    entry = desktop.desktop_entry("/opt/companion/companion")
    assert entry.startswith("[Desktop Entry]\n")
    assert "Exec=/opt/companion/companion %u\n" in entry
    assert "MimeType=x-scheme-handler/companion;\n" in entry
    assert "Icon=companion\n" in entry
    assert 'Exec="/home/a b/companion" %u' in desktop.desktop_entry("/home/a b/companion")


def test_register_then_the_handler_is_ours(user_dirs: Path) -> None:
    assert desktop.registered_handler() is None
    entry = desktop.register_link_handler("/opt/companion/companion")
    assert entry == user_dirs / "data" / "applications" / "companion.desktop"
    assert "Exec=/opt/companion/companion %u" in entry.read_text()
    assert desktop.registered_handler() == "companion.desktop"


def test_mimeapps_list_keeps_other_handlers(
    user_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no xdg-utils
    mimeapps = user_dirs / "config" / "mimeapps.list"
    mimeapps.parent.mkdir(parents=True)
    mimeapps.write_text(
        "[Default Applications]\ntext/html=firefox.desktop\n"
        "x-scheme-handler/companion=old.desktop\n[Added Associations]\nimage/png=eog.desktop\n"
    )
    assert desktop.registered_handler() == "old.desktop"
    desktop.register_link_handler("/opt/companion/companion")
    text = mimeapps.read_text()
    assert "text/html=firefox.desktop" in text
    assert "image/png=eog.desktop" in text
    assert "old.desktop" not in text
    assert desktop.registered_handler() == "companion.desktop"


def test_a_source_checkout_leaves_the_desktop_alone(user_dirs: Path) -> None:
    assert not getattr(sys, "frozen", False)
    assert desktop.ensure_link_handler() is False
    assert not (user_dirs / "data" / "applications").exists()


def test_the_built_app_registers_on_first_run_only(
    user_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert desktop.ensure_link_handler("/opt/companion/companion") is True
    assert desktop.registered_handler() == "companion.desktop"
    assert desktop.ensure_link_handler("/opt/companion/companion") is False


@pytest.mark.parametrize(
    ("argv", "expected", "registers"),
    [
        ([], ["patient"], True),
        (["companion://join?invite=x"], ["open", "companion://join?invite=x"], True),
        (["--self-test"], ["--self-test"], False),
        (["server", "--port", "0"], ["server", "--port", "0"], False),
        (["therapist", "--server", "ws://x/ws"], ["therapist", "--server", "ws://x/ws"], True),
    ],
)
def test_frozen_entry_point(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: list[str], registers: bool
) -> None:
    calls: list[list[str]] = []
    ensured: list[bool] = []

    def fake_ensure() -> bool:
        ensured.append(True)
        return False

    monkeypatch.setattr(desktop, "ensure_link_handler", fake_ensure)

    def fake_main(args: Sequence[str] | None = None) -> int:
        calls.append(list(args or []))
        return 7

    monkeypatch.setattr(companion.cli, "main", fake_main)
    assert desktop.frozen_main(argv) == 7
    assert calls == [expected]
    assert bool(ensured) is registers
