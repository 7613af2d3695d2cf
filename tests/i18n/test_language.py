"""The language a person gets: the OS's, their saved choice, the catalogue compiled from
the .po when no current .mo is there; and the core's words, spoken lines and summary in it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from companion import i18n
from companion.app.journal import load_settings, save_setting
from companion.app.spoken import SPOKEN_LINES, spoken_lines
from companion.app.summary import summarize, to_html
from companion.app.words import alert_words, computer_words, describe_event, link_words
from companion.audio.speech import EspeakVoice
from companion.protocol.messages import AlertRaised, Vitals


def test_the_language_follows_the_operating_system() -> None:
    assert i18n.system_language({"LANG": "es_US.UTF-8"}) == "es"
    assert i18n.system_language({"LANGUAGE": "fr:es", "LANG": "fr_FR.UTF-8"}) == "es"
    assert i18n.system_language({"LC_ALL": "de_DE.UTF-8", "LANG": "es_MX.UTF-8"}) == "en"
    assert i18n.system_language({"LANG": "C.UTF-8"}) == "en"
    assert i18n.system_language({}) == "en"


def test_a_persons_choice_is_kept_with_their_other_preferences(tmp_path: Path) -> None:
    save_setting(tmp_path, "reduced_motion", True)
    i18n.save_language(tmp_path, "es")
    save_setting(tmp_path, "reduced_motion", False)
    assert i18n.load_language(tmp_path) == "es"
    assert load_settings(tmp_path) == {"reduced_motion": False}
    try:
        assert i18n.start_language(tmp_path) == "es" and i18n.language() == "es"
        assert i18n.start_language(tmp_path / "nobody") in i18n.languages()
    finally:
        i18n.set_language("en")


def test_a_fresh_clone_compiles_the_po_in_memory(tmp_path: Path, monkeypatch) -> None:
    source = i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "companion.po"
    copy = tmp_path / "es" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    shutil.copy(source, copy / "companion.po")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n.languages() == ["en", "es"]
    assert i18n.catalogue("es").gettext("I need help") == "Necesito ayuda"
    # A .mo older than its .po is not trusted: the .po is newer words.
    (copy / "companion.mo").write_bytes(b"stale")
    old = time.time() - 3600
    import os

    os.utime(copy / "companion.mo", (old, old))
    assert i18n.catalogue("es").gettext("I need help") == "Necesito ayuda"


def test_the_core_speaks_spanish(spanish: None) -> None:
    assert link_words("patient", "connected") == "Tu terapeuta está contigo"
    assert link_words("support", None) == "Esperando la sesión"
    assert alert_words("support", "go_to_patient") == "Por favor, ve con el paciente ahora"
    assert computer_words("asleep", 180, None).endswith("3 minutos")
    assert computer_words("asleep", 60, None).endswith("1 minuto")
    vitals = Vitals(kind="vitals", systolic=150, diastolic=85, heart_rate=110)
    assert describe_event(vitals, "support") == ("Signos vitales registrados: 150/85 mmHg, 110 lpm")
    raised = AlertRaised(kind="alert.raised", alert_id="a", reason="help", for_roles=["therapist"])
    assert describe_event(raised, "patient") == "Alerta: El paciente está pidiendo ayuda"
    assert i18n.number(1234.5, 1) == "1.234,5"
    assert i18n.number(12345) == "12.345" and i18n.number(2.25, 1) == "2,2"


def test_spoken_lines_are_in_the_patients_language(spanish: None) -> None:
    lines = spoken_lines()
    assert set(SPOKEN_LINES) <= set(lines)
    assert lines["link_lost"].startswith("Se cortó la conexión de tu terapeuta.")
    assert lines["prompt:box-breathing"].startswith("Respiración cuadrada. Inhala")
    english = {line_id: text for line_id, text in SPOKEN_LINES.items()}
    assert not any(lines[k] == english[k] for k in english)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_the_voice_cache_keeps_each_language_apart(tmp_path: Path) -> None:
    english = EspeakVoice(tmp_path, i18n.ESPEAK_VOICES["en"])
    spanish = EspeakVoice(tmp_path, i18n.ESPEAK_VOICES["es"])
    assert len(english.render("Hola")) > 0 and len(spanish.render("Hola")) > 0
    assert len(list(tmp_path.glob("*.wav"))) == 2  # one per language, never mixed up


def test_the_summary_reads_a_spanish_timeline(spanish: None) -> None:
    from companion.app import SessionFacts, TimelineEntry

    t0 = 1_700_000_000.0
    facts = SessionFacts(started_at=t0)
    facts.timeline = [
        TimelineEntry(
            t0 + 30, None, "prompt.push", "Ejercicio mostrado: feet", ref="feet-on-floor"
        ),
        TimelineEntry(t0 + 100, None, "link", "Conexión de la llamada: perdida", ref="lost"),
        TimelineEntry(t0 + 142, None, "link", "Conexión de la llamada: conectada", ref="connected"),
        TimelineEntry(
            t0 + 300, "support", "vitals", "Signos vitales registrados: 150/85 mmHg, 110 lpm"
        ),
        TimelineEntry(t0 + 900, "support", "lookin", "La persona de apoyo fue a ver"),
    ]
    summary = summarize(facts, [], now=t0 + 5400)
    assert [d.lasted_s for d in summary.drops] == [42]
    assert [p for _, p in summary.prompts] == ["Los pies en el suelo"]
    assert summary.vitals[0].heart_rate == 110 and not summary.vitals[0].within_limits
    html = to_html(summary)
    assert "Resumen de la sesión" in html and "1 h 30 min" in html
    assert "fuera de los límites" in html and "1 vez" in html and "lang='es'" in html


def test_a_servers_refusal_is_said_in_the_apps_language(spanish: None) -> None:
    from companion.app.joining import what_to_do
    from companion.protocol.errors import ErrorCode, ProtocolError

    revoked = ProtocolError(ErrorCode.TOKEN_REVOKED)  # the wire carries the English
    assert what_to_do(revoked) == (
        "Esta invitación fue retirada. Pídele una nueva a tu terapeuta.\n"
        "Si escribiste un código, revísalo también."
    )
    # Words the app does not know (a newer server's) are shown as they came.
    odd = ProtocolError(ErrorCode.UNAVAILABLE, "Maintenance until 3 pm.")
    assert what_to_do(odd).startswith("Maintenance until 3 pm.\n")


def test_a_browser_gets_the_language_it_asks_for() -> None:
    assert i18n.best_language("es-US,es;q=0.9,en;q=0.8") == "es"
    assert i18n.best_language("en-US,en;q=0.9,es;q=0.8") == "en"
    assert i18n.best_language("fr-FR, es;q=0.5") == "es"
    assert i18n.best_language("de, fr;q=0.5") == "en" and i18n.best_language("") == "en"
    # Per request, whatever the server process itself speaks.
    assert i18n.translations("es").gettext("Thank you") == "Gracias"
    assert i18n.language() == "en"


def test_the_acknowledge_page_speaks_the_phones_language() -> None:
    from aiohttp.test_utils import make_mocked_request

    from companion.server.ackpage import _page

    def page(accept: str, which: str) -> str:
        request = make_mocked_request("GET", "/ack/x", headers={"Accept-Language": accept})
        body = _page(request, which).text
        assert body is not None
        return body

    spanish = page("es-MX,es;q=0.9", "ask")
    assert '<html lang="es">' in spanish and "Voy a ver cómo está" in spanish
    assert "Please check" not in spanish and 'id="ack"' in spanish
    assert "Todos en la sesión saben ya que vas para allá." in page("es", "done")
    assert "Everyone in the session now knows you are on your way." in page("en-GB", "done")


def test_dates_and_times_are_written_as_the_language_writes_them(spanish: None) -> None:
    from datetime import datetime

    at = datetime(2026, 12, 1, 14, 5).timestamp()
    assert i18n.date_words(at) == "martes, 1 de diciembre de 2026"
    assert i18n.clock(at) == "14:05:00" and i18n.day_and_time(at).startswith("mar, 1 dic")


def test_the_integration_reminder_in_spanish(spanish: None, tmp_path: Path) -> None:
    from datetime import datetime

    from companion.app.journal import reminder_words, save_reminder

    at = datetime(2026, 12, 1, 14, 5).timestamp()
    save_reminder(tmp_path, at)
    assert reminder_words(tmp_path, now=at - 3600) == (
        "Recordatorio: tu sesión de integración es el martes, 1 de diciembre de 2026 a las 14:05."
    )
