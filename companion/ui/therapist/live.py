"""One live session in the therapist's console: the patient's video, state, timeline,
alerts to acknowledge, the actions, the plan, private notes and the summary."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QDateTime, Qt, QTimer
from PySide6.QtGui import QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from companion.app import PLAYLISTS, RoleCore, TimelineEntry
from companion.app.journal import Journal, NeedsPassphrase
from companion.app.prompts import PROMPTS
from companion.app.summary import summarize, to_html
from companion.app.words import ALERT_WORDS
from companion.call.quality import CallQuality
from companion.monitor.ladder import Alert
from companion.protocol.messages import LadderConfig, MusicStatus, SessionPlan
from companion.records.private import NoteKind
from companion.ui.common import CLEAR_LIGHT, VideoView, format_ago, spawn, wire_video


def _button(text: str) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(text)
    button.setMinimumHeight(36)
    return button


class LiveSession(QWidget):
    def __init__(self, core: RoleCore, data_dir: Path) -> None:
        super().__init__()
        self.core = core
        self.data_dir = data_dir
        self.passphrase: str | None = None
        self.notes: list[tuple[float, str]] = []
        layout = QGridLayout(self)

        # Left: the patient, large; state; alerts.
        left = QVBoxLayout()
        self.alert_banner = QWidget()
        banner = QHBoxLayout(self.alert_banner)
        self.alert_text = QLabel("")
        self.alert_text.setWordWrap(True)
        self.alert_text.setAccessibleName("Alert")
        font = self.alert_text.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.alert_text.setFont(font)
        self.ack = _button("Acknowledge")
        self.ack.clicked.connect(self._acknowledge)
        banner.addWidget(self.alert_text, 1)
        banner.addWidget(self.ack)
        self.alert_banner.setStyleSheet(
            f"background: #fdecea; color: {CLEAR_LIGHT['danger']}; border: 2px solid "
            f"{CLEAR_LIGHT['danger']}; border-radius: 8px;"
        )
        self.alert_banner.hide()
        left.addWidget(self.alert_banner)
        self.video = VideoView("Waiting for the patient's video")
        left.addWidget(self.video, 1)
        status = QHBoxLayout()
        self.link = QLabel("Waiting for the patient")
        self.link.setAccessibleName("Connection")
        self.quality = QLabel("")
        self.quality.setAccessibleName("Call quality")
        self.checkin = QLabel("Last check-in: not yet")
        self.checkin.setAccessibleName("Last check-in")
        for widget in (self.link, self.quality, self.checkin):
            status.addWidget(widget)
        left.addLayout(status)
        self.self_view = VideoView("Your camera")
        self.self_view.setFixedSize(200, 150)
        status.addWidget(self.self_view)
        layout.addLayout(left, 0, 0)

        # Right: actions, timeline, plan, notes.
        tabs = QTabWidget()
        tabs.addTab(self._actions(), "Actions")
        tabs.addTab(self._plan(), "Plan")
        tabs.addTab(self._notes(), "Notes")
        self.timeline = QListWidget()
        self.timeline.setAccessibleName("Timeline")
        tabs.addTab(self.timeline, "Timeline")
        self.tabs = tabs
        layout.addWidget(tabs, 0, 1)
        layout.setColumnStretch(0, 3)
        layout.setColumnStretch(1, 2)
        self._open: dict[str, Alert] = {}
        self._observe()
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()

    # -- building

    def _actions(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.request = _button("Request a check-in")
        self.request.clicked.connect(lambda: spawn(self.core.request_checkin()))
        v.addWidget(self.request)
        prompts = QHBoxLayout()
        self.prompt_choice = QComboBox()
        self.prompt_choice.setAccessibleName("Grounding prompt to send")
        for p in PROMPTS:
            self.prompt_choice.addItem(p.title, p.prompt_id)
        self.push = _button("Show on the patient's screen")
        self.push.clicked.connect(
            lambda: spawn(self.core.push_prompt(str(self.prompt_choice.currentData())))
        )
        prompts.addWidget(self.prompt_choice, 1)
        prompts.addWidget(self.push)
        v.addLayout(prompts)
        music = QGroupBox("Music on the patient's computer")
        m = QVBoxLayout(music)
        self.now_playing = QLabel("Nothing reported yet")
        self.now_playing.setAccessibleName("Now playing")
        m.addWidget(self.now_playing)
        row = QHBoxLayout()
        for text, action in (("Play", "play"), ("Pause", "pause"), ("Previous", "previous"),
                             ("Next", "next")):  # fmt: skip
            button = _button(text)
            button.clicked.connect(lambda _=False, a=action: spawn(self.core.music_remote(a)))
            row.addWidget(button)
        m.addLayout(row)
        row2 = QHBoxLayout()
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(-40, 0)
        self.volume.setAccessibleName("Music volume")
        self.volume.sliderReleased.connect(
            lambda: spawn(
                self.core.music_remote("set_volume", volume_db=float(self.volume.value()))
            )
        )
        self.playlist = QComboBox()
        self.playlist.setAccessibleName("Playlist")
        for slug, title in PLAYLISTS.items():
            self.playlist.addItem(title, slug)
        choose = _button("Choose")
        choose.clicked.connect(
            lambda: spawn(
                self.core.music_remote("choose_playlist", playlist=str(self.playlist.currentData()))
            )
        )
        volume_row = QHBoxLayout()
        volume_row.addWidget(QLabel("Volume"))
        volume_row.addWidget(self.volume, 1)
        m.addLayout(volume_row)
        row2.addWidget(self.playlist, 1)
        row2.addWidget(choose)
        m.addLayout(row2)
        v.addWidget(music)
        msg = QHBoxLayout()
        self.message = QLineEdit()
        self.message.setPlaceholderText("A message for the support person")
        self.message.setAccessibleName("Message to the support person")
        send = _button("Send")
        send.clicked.connect(self._send_message)
        msg.addWidget(self.message, 1)
        msg.addWidget(send)
        v.addLayout(msg)
        self.export = _button("Export the session summary (HTML and PDF)")
        self.export.clicked.connect(lambda: self.export_summary(self.data_dir / "summary"))
        v.addWidget(self.export)
        self.export_note = QLabel("")
        self.export_note.setWordWrap(True)
        v.addWidget(self.export_note)
        v.addStretch(1)
        return page

    def _plan(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.dose_at = QDateTimeEdit(QDateTime.currentDateTime())
        self.dose_at.setAccessibleName("Dose time")
        form.addRow("Dose taken at", self.dose_at)
        self.checkin_every = QSpinBox()
        self.checkin_every.setRange(0, 120)
        self.checkin_every.setSuffix(" min (0 = only when I ask)")
        self.lookin_every = QSpinBox()
        self.lookin_every.setRange(0, 120)
        self.lookin_every.setValue(15)
        self.lookin_every.setSuffix(" min")
        self.vitals_at = QLineEdit("-5, 40")
        self.systolic_max, self.diastolic_max, self.hr_max = QSpinBox(), QSpinBox(), QSpinBox()
        for box, low, high, value in ((self.systolic_max, 90, 250, 160),
                                      (self.diastolic_max, 50, 150, 90),
                                      (self.hr_max, 50, 200, 100)):  # fmt: skip
            box.setRange(low, high)
            box.setValue(value)
        self.go_after = QSpinBox()
        self.go_after.setRange(10, 120)
        self.go_after.setValue(30)
        self.go_after.setSuffix(" s")
        self.answer_within = QSpinBox()
        self.answer_within.setRange(20, 300)
        self.answer_within.setValue(60)
        self.answer_within.setSuffix(" s")
        self.instructions = QPlainTextEdit()
        self.instructions.setPlaceholderText("What the support person should do, and whom to call")
        self.emergency = QLineEdit()
        for label, widget in (
            ("Check-in every", self.checkin_every),
            ("Support person looks in every", self.lookin_every),
            ("Vitals at (minutes from dose)", self.vitals_at),
            ("Systolic limit (mmHg)", self.systolic_max),
            ("Diastolic limit (mmHg)", self.diastolic_max),
            ("Heart rate limit (bpm)", self.hr_max),
            ("Call the support person after a lost link of", self.go_after),
            ("A check-in must be answered within", self.answer_within),
            ("Instructions for the support person", self.instructions),
            ("Emergency number", self.emergency),
        ):
            widget.setAccessibleName(label)
            form.addRow(label, widget)
        send = _button("Send the plan")
        send.clicked.connect(lambda: spawn(self.send_plan()))
        form.addRow(send)
        return page

    def _notes(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.note = QPlainTextEdit()
        self.note.setAccessibleName("Private note")
        self.note.setPlaceholderText("Private note (encrypted on this computer, timestamped)")
        v.addWidget(self.note, 1)
        save = _button("Save note")
        save.clicked.connect(lambda: spawn(self.save_note()))
        v.addWidget(save)
        self.notes_list = QListWidget()
        self.notes_list.setAccessibleName("Notes so far")
        v.addWidget(self.notes_list, 1)
        return page

    # -- observing

    def _observe(self) -> None:
        core = self.core
        core.link_changed.connect(self.link.setText)
        core.quality_changed.connect(self._quality)
        core.checked_in.connect(lambda _at: self._tick())
        core.timeline_added.connect(self._entry)
        core.alert_shown.connect(self._alert)
        core.alert_cleared.connect(self._cleared)
        core.music_changed.connect(self._music)
        wire_video(core, self.video, self.self_view)
        for entry in core.facts.timeline:
            self._entry(entry)

    def _entry(self, entry: TimelineEntry) -> None:
        clock = time.strftime("%H:%M:%S", time.localtime(entry.at))
        self.timeline.addItem(f"{clock}  {entry.text}")
        self.timeline.scrollToBottom()

    def _quality(self, q: CallQuality) -> None:
        rtt = f"{q.rtt_ms:.0f} ms" if q.rtt_ms is not None else "—"
        self.quality.setText(
            f"Delay {rtt} · loss {q.audio_loss_pct:.0f}% · video {q.video_fps_in:.0f} fps"
        )

    def _tick(self) -> None:
        at = self.core.facts.last_checkin_at
        self.checkin.setText(
            f"Last check-in: {format_ago(None if at is None else time.time() - at)}"
        )

    def _alert(self, alert: Alert) -> None:
        self._open[alert.alert_id] = alert
        self._show_alerts()

    def _cleared(self, alert_id: str, _how: str) -> None:
        self._open.pop(alert_id, None)
        self._show_alerts()

    def _show_alerts(self) -> None:
        if not self._open:
            self.alert_banner.hide()
            return
        alert = next(iter(self._open.values()))
        since = time.strftime("%H:%M:%S", time.localtime(time.time()))
        more = f" (+{len(self._open) - 1} more)" if len(self._open) > 1 else ""
        self.alert_text.setText(f"{ALERT_WORDS.get(alert.reason, alert.reason)} — {since}{more}")
        self.alert_banner.show()
        self.ack.setFocus()

    def _acknowledge(self) -> None:
        for alert_id in list(self._open):
            spawn(self.core.acknowledge(alert_id))

    def _music(self, status: MusicStatus) -> None:
        state = "playing" if status.playing else "paused"
        self.now_playing.setText(f"♪ {status.title} — {state}, {status.volume_db:.0f} dB")

    def _send_message(self) -> None:
        text = self.message.text().strip()
        if text:
            spawn(self.core.send_message("support", text[:1000]))
            self.message.clear()

    # -- plan, notes, summary

    async def send_plan(self) -> None:
        try:
            vitals = [int(x) for x in self.vitals_at.text().replace(" ", "").split(",") if x][:12]
        except ValueError:
            vitals = [-5, 40]
        plan = SessionPlan(
            kind="plan",
            dose_at=float(self.dose_at.dateTime().toSecsSinceEpoch()),
            checkin_every_min=self.checkin_every.value(),
            vitals_at_min=vitals,
            lookin_every_min=self.lookin_every.value(),
            systolic_max=self.systolic_max.value(),
            diastolic_max=self.diastolic_max.value(),
            heart_rate_max=self.hr_max.value(),
            instructions=self.instructions.toPlainText()[:2000],
            emergency_number=self.emergency.text()[:40],
        )
        await self.core.set_plan(plan)
        await self.core.set_ladder(LadderConfig(
            kind="ladder.config", go_to_patient_after_s=self.go_after.value(),
            checkin_answer_s=self.answer_within.value()))  # fmt: skip

    async def save_note(self) -> None:
        text = self.note.toPlainText().strip()
        records = self.core.records
        if not text or records is None:
            return
        journal = Journal(records)
        try:
            await journal.unlock(self.passphrase)
        except NeedsPassphrase:
            passphrase, ok = QInputDialog.getText(
                self, "Protect your notes",
                "No keyring on this computer: choose a passphrase (8+ characters) for your notes.",
                QLineEdit.EchoMode.Password,
            )  # fmt: skip
            if not ok or len(passphrase) < 8:
                return
            self.passphrase = passphrase
            await journal.unlock(passphrase)
        await journal.add(self.core.session_id, NoteKind.NOTE, text)
        now = time.time()
        self.notes.append((now, text))
        self.notes_list.addItem(f"{time.strftime('%H:%M', time.localtime(now))}  {text}")
        self.note.clear()

    def export_summary(self, stem: Path) -> tuple[Path, Path]:
        html = to_html(summarize(self.core.facts, self.notes))
        stem.parent.mkdir(parents=True, exist_ok=True)
        html_path, pdf_path = stem.with_suffix(".html"), stem.with_suffix(".pdf")
        html_path.write_text(html, encoding="utf-8")
        document = QTextDocument()
        document.setHtml(html)
        writer = QPdfWriter(str(pdf_path))
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        writer.setResolution(150)
        document.print_(writer)
        self.export_note.setText(f"Saved {html_path.name} and {pdf_path.name} in {stem.parent}")
        return html_path, pdf_path
