"""A whole session in Spanish: the recorded demo (three real apps, a real server) and the
summary PDF as the therapist's app prints it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from companion.app import SessionFacts, TimelineEntry
from companion.app.summary import summarize, to_html
from tests.ui.conftest import SCREENSHOTS

pytestmark = pytest.mark.slow


def test_the_recorded_demo_runs_in_spanish(tmp_path: Path) -> None:
    out = SCREENSHOTS / "language" / "demo-es"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "QT_QPA_PLATFORM": "offscreen", "LANGUAGE": "es"}
    result = subprocess.run(
        [sys.executable, "-m", "companion", "demo", "--headless", "--quick", "--record", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"screenshots: {out}")
    said = [(e["who"], e["what"]) for e in json.loads((out / "timeline.json").read_text())]
    assert ("therapist", "sees: Conexión perdida — se avisó a la persona de apoyo") in said
    assert ("support", "sees: Terapeuta desconectado") in said
    assert any(who == "patient" and "La música sigue sonando" in what for who, what in said)
    assert ("patient", "sees: Tu terapeuta está contigo") in said
    assert len(list(out.glob("*.png"))) >= 18


def test_the_summary_pdf_renders_in_spanish(qapp, spanish: None, tmp_path: Path) -> None:
    from companion.ui.therapist.live import write_pdf

    t0 = 1_700_000_000.0
    facts = SessionFacts(started_at=t0)
    facts.timeline = [
        TimelineEntry(t0 + 10, None, "checkin.request", "El terapeuta pidió un control"),
        TimelineEntry(t0 + 25, None, "checkin", "El paciente avisó: estoy bien"),
        TimelineEntry(t0 + 30, None, "prompt.push", "Ejercicio mostrado", ref="box-breathing"),
        TimelineEntry(t0 + 100, None, "link", "Conexión de la llamada: perdida", ref="lost"),
        TimelineEntry(t0 + 142, None, "link", "Conexión de la llamada: conectada", ref="connected"),
        TimelineEntry(
            t0 + 300, "support", "vitals", "Signos vitales registrados: 150/85 mmHg, 110 lpm"
        ),
    ]
    html = to_html(summarize(facts, [(t0 + 50, "Empieza tranquila")], now=t0 + 5400))
    pdf = write_pdf(html, tmp_path / "resumen.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is needed"
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(text.split())  # the PDF's lines wrap where the page does
    for words in (
        "Resumen de la sesión",
        "Controles",
        "Respiración cuadrada",
        "Cortes de conexión",
        "fuera de los límites",
        "Empieza tranquila",
        "110 lpm",
    ):
        assert words in text, words
    assert "Session summary" not in text and "Check-ins" not in text and "session" not in text
    out = SCREENSHOTS / "language"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(out / "summary-es")],
        check=True,
    )
    print(f"screenshot: {out / 'summary-es-1.png'}")


def test_the_emergency_card_is_in_the_support_persons_language(spanish: None) -> None:
    from companion.protocol.messages import EmergencyCard
    from companion.ui.support import card_html

    card = EmergencyCard(
        kind="card", patient_name="Ana <R>", address="Calle 1", emergency_number="911"
    )
    page = card_html(card)
    assert "<h1>Tarjeta de emergencia</h1>" in page and "Número de emergencias: <b>911</b>" in page
    assert "Dirección" in page and "Ana &lt;R&gt;" in page  # the card's own words escaped
    empty = card_html(None, "112")
    assert "todavía no ha llenado" in empty and "llama al <b>112</b>." in empty
    assert "Emergency" not in page + empty
