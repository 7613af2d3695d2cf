"""The installer build (``build_installer.py``): a real PyInstaller build, unpacked and run
the way a patient would, from a fresh folder with nothing of this checkout around.

The build reuses PyInstaller's work folder ``build/installer`` (ignored by git) between
runs; from a fresh clone it starts from nothing (about 30 s here, plus about 15 s to pack
the tarball). The app is then unpacked from the tarball into a temporary folder and run
with a clean environment: no ``.venv`` on PATH, no PYTHONPATH, HOME a temporary folder
whose ``.asoundrc`` makes ALSA's default device the null plugin (no sound card here).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(480),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux build"),
]


@dataclass
class Build:
    output: str
    seconds: float
    tarball: Path
    app: Path
    """The unpacked folder (``companion``, ``_internal/``, ``install.sh``…)."""
    home: Path
    fresh: Path
    """An empty working folder far from the checkout."""

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.app / "companion"), *args],
            cwd=self.fresh,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (it is in the test extras: run script/bootstrap)")
    dist = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "build_installer.py"), "--dist-dir", str(dist)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(result.stdout)
    name = f"companion-{VERSION}-linux-{os.uname().machine}"
    tarball = dist / f"{name}.tar.gz"
    download = tmp_path_factory.mktemp("download")
    with tarfile.open(tarball) as tar:
        tar.extractall(download, filter="tar")
    home = tmp_path_factory.mktemp("home")
    (home / ".asoundrc").write_text("pcm.!default { type null }\n", encoding="utf-8")
    fresh = tmp_path_factory.mktemp("fresh")
    return Build(result.stdout, seconds, tarball, download / name, home, fresh)


def test_build_reports_progress_and_names_the_artifact_with_the_version(build: Build) -> None:
    lines = build.output.splitlines()
    assert lines[0].startswith(f"Building companion-{VERSION}-linux-")
    assert any(line.startswith("[1/3] PyInstaller") for line in lines)
    assert any(line.startswith("[3/3] packing the tarball") for line in lines)
    assert any("Building COLLECT" in line for line in lines)
    assert build.tarball.name == f"companion-{VERSION}-linux-{os.uname().machine}.tar.gz"
    size_mb = build.tarball.stat().st_size / 1e6
    print(f"build {build.seconds:.0f}s, tarball {size_mb:.0f} MB")
    assert size_mb < 400


def test_the_tarball_holds_the_app_a_desktop_entry_an_icon_and_install_sh(build: Build) -> None:
    with tarfile.open(build.tarball) as tar:
        top = {Path(name).parts[0] for name in tar.getnames()}
    assert top == {build.app.name}
    for name in ("companion", "install.sh", "companion.desktop", "companion.svg", "companion.png"):
        assert (build.app / name).is_file(), name
    assert os.access(build.app / "companion", os.X_OK)
    assert os.access(build.app / "install.sh", os.X_OK)
    entry = (build.app / "companion.desktop").read_text()
    assert "MimeType=x-scheme-handler/companion;" in entry
    internal = build.app / "_internal"
    assert (internal / "assets" / "music" / "playlist.m3u").is_file()
    assert (internal / "companion" / "locale" / "es" / "LC_MESSAGES" / "companion.mo").is_file()
    assert list(internal.glob("libportaudio.so*"))
    platforms = internal / "PySide6" / "Qt" / "plugins" / "platforms"
    assert (platforms / "libqoffscreen.so").is_file()
    assert (platforms / "libqxcb.so").is_file()


def test_built_app_self_test_passes_in_a_fresh_folder_without_the_venv(build: Build) -> None:
    result = build.run("--self-test")
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"companion {VERSION} self-test (built app")
    checks = {line.split(":", 1)[0]: line for line in lines[1:-1]}
    assert list(checks) == ["qt", "audio", "aiortc", "music", "voice"]
    for name, line in checks.items():
        assert line.startswith(f"{name}: ok — "), line
    assert "on offscreen, a widget drawn" in checks["qt"]
    assert "xcb" in checks["qt"]
    # PortAudio and the music come from inside the bundle, not from this machine or checkout.
    assert f"from {build.app / '_internal'}/libportaudio.so" in checks["audio"]
    assert f"in {build.app / '_internal' / 'assets' / 'music'} decode" in checks["music"]
    assert "data channel echoed" in checks["aiortc"]
    # The echo canceller's native library, from the bundle too.
    assert f"from {build.app / '_internal' / 'livekit' / 'rtc' / 'resources'}" in checks["voice"]
    assert lines[-1] == "self-test passed"


def test_built_app_person_self_test_runs_the_devices(build: Build) -> None:
    result = build.run("self-test", "--listen", "0.5", "--skip", "server", "--skip", "turn")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Camera         not found      There is no camera on this computer." in result.stdout
    assert "Microphone     ok" in result.stdout
    assert "Speakers       ok" in result.stdout


def test_install_sh_installs_into_local_and_registers_the_link_handler(build: Build) -> None:
    home = build.home
    result = subprocess.run(
        ["sh", str(build.app / "install.sh")],
        cwd=build.fresh,
        env=build.env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Companion is installed. Open it from your menu" in result.stdout
    command = home / ".local" / "bin" / "companion"
    version = subprocess.run(
        [str(command), "--version"], env=build.env(), capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == f"companion {VERSION}"
    entry = (home / ".local" / "share" / "applications" / "companion.desktop").read_text()
    assert f"Exec={home}/.local/lib/companion/companion %u" in entry
    assert (home / ".local/share/icons/hicolor/scalable/apps/companion.svg").is_file()
    handler = subprocess.run(
        [sys.executable, "-c", "from companion.desktop import registered_handler as r; print(r())"],
        env={**build.env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert handler.stdout.strip() == "companion.desktop", handler.stderr
    removed = subprocess.run(
        ["sh", str(build.app / "install.sh"), "--uninstall"],
        env=build.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert removed.returncode == 0
    assert not command.exists()
    assert not (home / ".local" / "lib" / "companion").exists()
