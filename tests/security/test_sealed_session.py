"""A session's typed words reach the people allowed to read them, and the clinic's server
and its Redis (memory, append-only file, snapshot) hold none of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from companion.protocol.messages import (
    EmergencyCard,
    EventBody,
    Intention,
    Role,
    SessionPlan,
    TextMessage,
    Vitals,
)
from companion.server.app import ServerConfig
from tests.monitor.test_guardian import App, home  # noqa: F401 - the three apps' fixture
from tests.server.conftest import RedisProcess, redis_server  # noqa: F401 - fixture
from tests.waiting import until

WORDS = {
    "intention": "Quillbrook intention to forgive",
    "name": "Marisol Quillbrook",
    "address": "17 Vetiver Lane",
    "medications": "Zelmarin 40 mg",
    "to_support": "Quillbrook note for the support person",
    "to_patient": "Quillbrook note for the patient",
    "instructions": "Quillbrook instructions: call Dana",
}


@pytest.fixture
def server_config(tmp_path: Path, redis_server: RedisProcess) -> ServerConfig:  # noqa: F811
    direct = redis.Redis.from_url(redis_server.url)
    # Everything Redis writes to disk, uncompressed, so a byte search finds what is there.
    direct.config_set("appendonly", "yes")
    direct.config_set("rdbcompression", "no")
    direct.close()
    return ServerConfig(data_dir=tmp_path / "server", port=0, redis_url=redis_server.url)


def _redis_bytes(url: str) -> bytes:
    """Every value of every key, by type (a DUMP would be compressed)."""
    r: Any = redis.Redis.from_url(url)
    out: list[bytes] = []
    for key in r.scan_iter():
        kind = r.type(key)
        if kind == b"string":
            out.append(r.get(key) or b"")
        elif kind == b"hash":
            out += [k + v for k, v in r.hgetall(key).items()]
        elif kind == b"list":
            out += r.lrange(key, 0, -1)
        elif kind == b"zset":
            out += r.zrange(key, 0, -1)
        elif kind == b"set":
            out += list(r.smembers(key))
        elif kind == b"stream":
            out += [k + v for _, fields in r.xrange(key) for k, v in fields.items()]
    r.save()
    r.close()
    return b"\n".join(out)


def _files_bytes(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


async def test_typed_words_reach_their_readers_and_the_server_holds_none(
    home: dict[str, App],  # noqa: F811
    redis_server: RedisProcess,  # noqa: F811
    server_config: ServerConfig,
) -> None:
    patient, therapist, support = home["patient"], home["therapist"], home["support"]
    got: dict[str, list[EventBody]] = {role: [] for role in home}
    for role, app in home.items():
        app.guardian.event_received.connect(_events_into(got[role]))
    # The server's copies are the only ones here: the call and the home link are closed,
    # so the words can only arrive sealed, through the server, and opened by the app.
    for app in home.values():
        for link in app.links:
            await link.close()
    card = EmergencyCard(
        kind="card",
        patient_name=WORDS["name"],
        address=WORDS["address"],
        medications=WORDS["medications"],
        emergency_number="112",
    )
    await patient.guardian.publish(Intention(kind="intention", text=WORDS["intention"]))
    await patient.guardian.publish(card)
    plan = SessionPlan(kind="plan", instructions=WORDS["instructions"], emergency_number="112")
    await therapist.guardian.publish(plan)
    for to_role, words in (("support", WORDS["to_support"]), ("patient", WORDS["to_patient"])):
        await therapist.guardian.publish(TextMessage(kind="message", to_role=to_role, text=words))  # type: ignore[arg-type]

    vitals = Vitals(kind="vitals", systolic=187, diastolic=113, heart_rate=143)
    await support.guardian.publish(vitals)

    def has(role: str, event: EventBody) -> bool:
        return event in got[role]

    to_support = TextMessage(kind="message", to_role="support", text=WORDS["to_support"])
    to_patient = TextMessage(kind="message", to_role="patient", text=WORDS["to_patient"])
    intention = Intention(kind="intention", text=WORDS["intention"])
    expected: dict[Role, list[EventBody]] = {
        "therapist": [intention, card, vitals],
        "support": [card, plan, to_support],
        "patient": [plan, to_patient],
    }
    await until(
        lambda: all(has(r, e) for r, events in expected.items() for e in events), within_s=10
    )
    assert not has("support", intention) and not has("patient", to_support)

    # (The apps' own records are another matter: encrypted at rest by their records key.)
    stored = _redis_bytes(redis_server.url)  # (and a snapshot written)
    redis_files = [redis_server.folder / "dump.rdb", *redis_server.folder.glob("appendonly*/*")]
    assert len(redis_files) > 1 and all(f.is_file() for f in redis_files)
    stored += b"".join(f.read_bytes() for f in redis_files)
    stored += _files_bytes(server_config.data_dir)
    assert b"sealed" in stored  # the events are there, as ciphertext
    for words in WORDS.values():
        assert words.encode() not in stored, words
    assert b'"systolic":187' not in stored and b'"heart_rate":143' not in stored


def _events_into(into: list[EventBody]) -> Callable[[str, EventBody, Role | None], None]:
    return lambda event_id, event, by: into.append(event)
