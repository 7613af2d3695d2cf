"""The therapist's recorded lines (issue 22): how big, in how many pieces, how long to send.

    .venv/bin/python benchmarks/voice_lines.py            # every line
    .venv/bin/python benchmarks/voice_lines.py --quick    # four lines

Every English line is rendered with espeak-ng as a stand-in for a therapist reading it
(the same length a person takes, give or take), encoded as Ogg Opus as the console keeps
it, cut into ``voice.chunk`` pieces and sealed for one patient as the server relays them.

* total_kib: all the lines' Ogg Opus files together.
* pieces / max_wire_bytes: how many events, and the largest one as a wire message (limit
  65536).
* send_s: how long the therapist's app takes to send them all at its pace
  (``SEND_BYTES_PER_S``), safety lines first.
* encode_s_per_line_p95: encoding one line on this machine (the console, after "Stop").
* decode_s_per_line_p95: decoding one on the patient's side, off the event loop.

The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from companion.app.spoken import spoken_lines
from companion.app.voice import SEND_BYTES_PER_S, voice_chunks
from companion.audio.recording import decode_audio, encode_opus
from companion.audio.speech import EspeakVoice
from companion.protocol.identity import MemberKey
from companion.protocol.messages import SendEvent
from companion.protocol.sealing import seal_event


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    voice = EspeakVoice(Path(tempfile.mkdtemp()) / "voice", "en-us")
    recordings: dict[tuple[str, str], bytes] = {}
    encode_s: list[float] = []
    decode_s: list[float] = []
    lines = list(spoken_lines("en").items())
    for line_id, words in lines[:4] if quick else lines:
        samples = voice.render(words)
        start = time.perf_counter()
        ogg = encode_opus(samples)
        encode_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        decode_audio(ogg)
        decode_s.append(time.perf_counter() - start)
        recordings[("en", line_id)] = ogg
    patient = MemberKey.generate()
    chunks = voice_chunks(recordings)
    wire = []
    for n, chunk in enumerate(chunks):
        event_id = f"00000000-0000-4000-8000-{n:012d}"
        sealed = seal_event(chunk, {"p1": patient.box_key}, "s1", event_id)
        wire.append(
            len(SendEvent(type="event", event=sealed, event_id=event_id).model_dump_json().encode())
        )
    result = {
        "lines": len(recordings),
        "total_kib": round(sum(map(len, recordings.values())) / 1024, 1),
        "pieces": len(chunks),
        "max_wire_bytes": max(wire),
        "send_s": round(sum(len(c.data) * 1.4 / SEND_BYTES_PER_S for c in chunks), 1),
        "encode_s_per_line_p95": round(float(np.percentile(encode_s, 95)), 3),
        "decode_s_per_line_p95": round(float(np.percentile(decode_s, 95)), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
