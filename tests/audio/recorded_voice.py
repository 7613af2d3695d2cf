"""The therapist's recorded line, from their microphone to the patient's ears (issue 22),
run in a subprocess whose HOME's ALSA default device captures from a file (the
therapist's voice) and plays into a file (what the patient hears).

    python -m tests.audio.recorded_voice WORKDIR

The recording is captured through PortAudio, encoded as Ogg Opus, cut into ``voice.chunk``
events sealed for the patient's key (as the server relays them) and opened again, put
together by the patient's inbox, decoded and said by the patient's speaker over music.
A second line loses one piece on the way: it stays in the computer's voice.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from companion.app.spoken import THERAPIST_VOICE
from companion.app.voice import VoiceInbox, voice_chunks
from companion.audio.recording import Recorder, decode_audio, encode_opus, trimmed
from companion.audio.speech import EspeakVoice, Speaker
from companion.protocol.identity import MemberKey
from companion.protocol.messages import VoiceChunk
from companion.protocol.sealing import open_event, seal_event
from tests.audio.scenarios import speak_over_music


def run(work: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    recorder = Recorder()
    recorder.start()
    time.sleep(3.0)
    captured = recorder.stop()
    captured.tofile(work / "captured.raw")
    result["captured_s"] = len(captured) / 48_000
    ogg = encode_opus(trimmed(captured))
    chunks = voice_chunks({("en", "therapist_back"): ogg, ("en", "link_lost"): ogg})
    result["pieces"] = len(chunks)
    patient = MemberKey.generate()
    inbox, whole = VoiceInbox("en"), {}
    for n, chunk in enumerate(chunks):
        event_id = f"00000000-0000-4000-8000-{n:012d}"
        on_the_wire = seal_event(chunk, {"p1": patient.box_key}, "s1", event_id)
        result.setdefault("wire_bytes", []).append(len(on_the_wire.model_dump_json()))
        opened = open_event(on_the_wire, "p1", patient, "s1", event_id)
        assert isinstance(opened, VoiceChunk)
        if opened.line_id == "link_lost" and opened.index == 0:
            continue  # lost on the way
        got = inbox.add(opened)
        if got is not None:
            whole[got[0]] = got[1]
    result["whole"] = sorted(whole)
    result["incomplete"] = list(inbox.missing())

    def use_recordings(speaker: Speaker) -> None:
        for line_id, data in whole.items():
            speaker.use_recording(line_id, decode_audio(data), THERAPIST_VOICE)
        result["voices"] = {i: speaker.voice_of(i) for i in ("therapist_back", "link_lost")}
        result["ready"] = [i for i in ("therapist_back", "link_lost") if speaker.ready(i)]

    lines = {"therapist_back": "Your therapist is back with you.", "link_lost": "Connection lost."}
    speak_over_music(work, result, lines, "therapist_back", use_recordings, after_s=6.0)
    return result


async def in_session(work: Path) -> dict[str, Any]:
    """Three real cores over a real server, the patient's with its real engine: the
    therapist's recording of the check-in request is sent when the session opens, and the
    patient hears it in that voice when the therapist asks; the timeline says so."""
    from companion.server.app import ServerConfig, SignalingServer
    from tests.audio.scenarios import session_cores, therapist_opens
    from tests.waiting import until

    result: dict[str, Any] = {}
    words = EspeakVoice(work / "render", "en-gb").render("Checking in. Press any key if OK.")
    ogg = encode_opus(words)
    async with SignalingServer(ServerConfig(data_dir=work / "server", port=0)) as server:
        _, secret = server.db.add_therapist("dr-test")
        cores = session_cores(server.ws_url, work)
        therapist, patient = cores["therapist"], cores["patient"]
        try:
            invites = await therapist_opens(therapist, secret)
            await therapist.start()
            # As the console does when the session opens: before the patient is there.
            therapist.send_voice({("en", "checkin_request"): ogg})
            for role in ("patient", "support"):
                await cores[role].connect()
                await cores[role].join(invites[role].code)
                await cores[role].start()
            await until(lambda: "checkin_request" in patient.voice_receiver.used, within_s=30)
            assert patient.devices.speech_ready is not None
            result["missing"] = await patient.devices.speech_ready
            therapist.set_mic_muted(True)
            await asyncio.sleep(2.0)
            await therapist.request_checkin()
            await until(
                lambda: any(e.kind == "spoken" for e in therapist.facts.timeline), within_s=20
            )
            await asyncio.sleep(4.0)
            result["therapist_heard"] = [
                e.text for e in therapist.facts.timeline if e.kind == "spoken"
            ]
            speaker = patient.devices.speaker
            assert speaker is not None
            line = speaker.samples("checkin_request")
            assert line is not None
            line.tofile(work / "line.raw")
            words.tofile(work / "words.raw")
        finally:
            for core in cores.values():
                await core.close()
    return result


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    session = sys.argv[2:] == ["session"]
    outcome = asyncio.run(in_session(folder)) if session else run(folder)
    (folder / "result.json").write_text(json.dumps(outcome))
