"""A patient's and a therapist's app cores in one call; the patient's audio engine plays
into ALSA's default device (a file, see tests/audio/conftest.py). Prints a JSON result.

    python -m tests.call.voice_scenario WORKDIR

Timeline: the call connects, the therapist's tone plays for a while, the therapist mutes
for ~2 s, then unmutes. The patient's music is muted so the voice stands alone.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from companion.app import CoreOptions, RoleCore
from companion.server.app import ServerConfig, SignalingServer


async def main(work: Path) -> None:
    marks: dict[str, float] = {}
    async with SignalingServer(ServerConfig(data_dir=work / "server", port=0)) as server:
        _, secret = server.db.add_therapist("dr")
        therapist = RoleCore(
            "therapist",
            server.ws_url,
            CoreOptions(data_dir=work / "t", fake_media=True, audio=False, video=(160, 120, 10)),
        )
        patient = RoleCore(
            "patient",
            server.ws_url,
            CoreOptions(data_dir=work / "p", fake_media=True, audio=True, video=(160, 120, 10)),
        )
        await therapist.connect()
        await therapist.sign_in("dr", secret)
        created = await therapist.signaling.create_session()
        await therapist.open_session(created.session.session_id)
        await patient.connect()
        await patient.join(created.invites[0].code)
        await therapist.start()
        await patient.start()
        patient.devices.set_music_muted(True)
        call = patient.call
        assert call is not None
        async with asyncio.timeout(20):
            while patient.facts.link != "connected":
                await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)
        marks["mute"] = time.monotonic()
        therapist.set_mic_muted(True)
        await asyncio.sleep(2.5)
        marks["unmute"] = time.monotonic()
        therapist.set_mic_muted(False)
        await asyncio.sleep(2.0)
        marks["end"] = time.monotonic()
        # The therapist's music remote: "next" changes what the patient's engine plays.
        assert patient.audio is not None
        before = patient.audio.status().title
        await therapist.music_remote("next")
        async with asyncio.timeout(15):
            while patient.audio.status().title == before:
                await asyncio.sleep(0.1)
        music = [before, patient.audio.status().title]
        device = patient.audio.device if patient.audio else None
        result = {
            "device": device.name if device else None,
            "marks": marks,
            "music": music,
            "underruns": patient.audio.underruns if patient.audio else -1,
        }
        await patient.close()
        await therapist.close()
    (work / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
