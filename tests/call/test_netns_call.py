"""A call between two real hosts (network namespaces), the server on a third."""

from __future__ import annotations

import time
from pathlib import Path

from devtools.netlab import NetLab, Reports, add_therapist, first_line, needs_netns, start_server

pytestmark = needs_netns


def test_call_across_namespaces(tmp_path: Path) -> None:
    secret = add_therapist(tmp_path / "server", "dr-ns")
    with NetLab() as lab:
        for role in ("srv", "ther", "pat"):
            lab.add_host(role)
        _, url = start_server(lab, tmp_path / "server", tmp_path / "server.log")
        ther = lab.spawn_peer(
            "ther",
            "therapist",
            url,
            "--name",
            "dr-ns",
            f"--secret={secret}",
            "--seconds",
            "12",
            log=tmp_path / "ther.log",
        )
        token = first_line(ther, "invite", timeout=20)["token"]
        pat = lab.spawn_peer(
            "pat", "patient", url, "--invite", token, "--seconds", "10", log=tmp_path / "pat.log"
        )
        reports = Reports()
        reports.follow("patient", pat)
        reports.expect("patient", "call_state", 0, 15, state="connected")
        reports.expect("patient", "video", 0, 10)
        pat.wait(timeout=20)
        ther.wait(timeout=20)
        time.sleep(0.2)
        audio = reports.matching("patient", "audio")
        video = reports.matching("patient", "video")
        assert audio and abs(audio[-1]["hz"] - 660) < 10, audio
        assert video and video[-1]["frames"] > 5, video
        assert pat.returncode == 0 and ther.returncode == 0
