// The support person's board in a browser: what the Qt board (companion/ui/support) shows
// and says, spoken over the clinic server's WebSocket as docs/protocol.md describes. It
// raises no step of the ladder of the server path: it shows the alerts others raise,
// sounds them, and acknowledges them.
import { HomeLink } from "./homelink.js";
import { _, N_, clock, format, ngettext } from "./i18n.js";
import * as i18n from "./i18n.js";
import * as wire from "./wire.js";

const ROLE = "support";
const PROTOCOL = 1; // docs/protocol.md, "Versions"
const $ = (id) => document.getElementById(id);

// -- the same words as the Qt board (companion/ui/support, companion/app/words.py)
// (translated where shown: `_(CALL_WORDS[reason])`)
const CALL_WORDS = {
  go_to_patient: N_("Please go to the patient now"),
  help: N_("The patient is asking for help — please go to them now"),
  link_lost: N_("The therapist's connection dropped. They are reconnecting."),
  checkin_unanswered: N_("The patient has not answered a check-in — please look in on them"),
};
const LINK_WORDS = {
  connected: N_("Connected"),
  degraded: N_("Connected (weak line)"),
  interrupted: N_("Connection hiccup"),
  lost: N_("Therapist disconnected"),
  recovering: N_("Reconnecting…"),
};
const NOT_STARTED = N_("Waiting for the session");
const COMPUTER_LINES = {
  on_battery: N_("The patient's computer is running on battery. If you can, plug it in."),
  battery_low: N_("The patient's computer battery is low. Please plug it in quietly."),
};
const URGENT_REASONS = ["help", "go_to_patient", "checkin_unanswered"];

const REPEAT_EVERY_S = 10; // an urgent call sounds again until someone answers (ladder.py)
const REMIND_AGAIN_S = 5 * 60;
const PING_EVERY_MS = 1000; // docs/protocol.md, "Writing a browser client"
const DEAD_AFTER_MS = 2500;
const RECONNECT_MS = [0, 250, 500, 1000, 2000, 3000];
const JOIN_RETRY_IN_USE_MS = 6000;
const SAVED = "companion.board";
const DEVICE = "companion.device";

export function formatAgo(seconds) {
  if (seconds === null) return _("not yet");
  if (seconds < 45) return _("just now");
  const minutes = Math.floor(seconds / 60) + (seconds % 60 >= 30 ? 1 : 0);
  if (minutes < 60) return format(_("{minutes} min ago"), { minutes });
  return format(_("{hours} h {minutes} min ago"), { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
}

export function formatElapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}


/** The token or short code inside a link (`…#invite=`, `…?invite=`) or as typed. */
export function inviteFrom(text) {
  text = text.trim();
  const match = /[?#&]invite=([^&#\s]+)/.exec(text);
  if (match) return decodeURIComponent(match[1]);
  if (text.length <= 16) return text.replace(/[\s-]/g, "").toUpperCase();
  return text;
}

function deviceSecret() {
  let secret = localStorage.getItem(DEVICE);
  if (!secret || !/^[A-Za-z0-9_-]{22,128}$/.test(secret)) {
    secret = wire.b64url(crypto.getRandomValues(new Uint8Array(24)));
    localStorage.setItem(DEVICE, secret);
  }
  return secret;
}

// -- sounds: WebAudio, fading in; the phone vibrates for a call where the browser allows

class Sounds {
  constructor() {
    this.context = null;
    this.played = []; // [kind, at] for the tests and the curious
  }

  unlock() {
    // Browsers start audio only from a press: the join button (or "Turn the sound on").
    if (this.context === null) this.context = new AudioContext();
    if (this.context.state !== "running") this.context.resume().catch(() => {});
  }

  get running() {
    return this.context !== null && this.context.state === "running";
  }

  play(kind) {
    this.played.push([kind, Date.now()]);
    if (kind === "call" && navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 400]);
    const ctx = this.context;
    if (ctx === null || ctx.state !== "running") return;
    const notes = kind === "call" ? [[523.25, 0], [659.25, 0.4], [783.99, 0.8]] : [[659.25, 0]];
    const level = kind === "call" ? 0.35 : 0.15;
    for (const [frequency, offset] of notes) {
      const start = ctx.currentTime + offset;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(level, start + 0.08); // fades in, never a click
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.7);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.75);
    }
  }
}

// -- the board

class Board {
  constructor() {
    this.sounds = new Sounds();
    this.identity = null;
    this.invite = "";
    this.memberId = null;
    this.sessionId = null;
    this.members = [];
    this.resumeToken = null;
    this.lastSeq = 0;
    this.startedAt = Date.now();
    this.joined = false;
    this.ended = false;
    this.stopped = ""; // why the board no longer reconnects ("" while it does)
    this.ws = null;
    this.lastHeard = 0;
    this.lastTick = 0;
    this.attempt = 0;
    this.rid = 0;
    this.joinDeadline = 0;
    this.seen = new Set();
    this.outbox = new Map(); // event id -> the server's copy, until acknowledged
    this.incoming = Promise.resolve();
    this.alerts = new Map(); // alert id -> {alertId, reason, urgent, forRoles, raisedBy, closed, shownAt, nextSound}
    this.linkBy = {}; // path -> the patient's last reported state of the call on it
    this.lastCheckinAt = null;
    this.plan = null;
    this.card = null;
    this.reminders = [];
    this.reminder = null;
    this.queue = [];
    this.remindAgainAt = null;
    this.refused = []; // [kind, reason]: what was dropped, never its words
    this.errors = []; // error codes the server answered
    this.serverUp = false;
    this.homeLink = null; // the home link to the patient's app (homelink.js), once joined
    this.homeState = null;
    this.homeLostAt = null;
    this.calledThisOutage = false;
    this.ownCall = null; // the go-to-patient alert this board raised itself
    this.goAfterS = 30; // ladder.config's go_to_patient_after_s
  }

  // -- joining and staying joined

  async start(invite) {
    this.invite = invite;
    // The join tells the server the person's language: wait (briefly) for the words.
    await Promise.race([i18n.ready, new Promise((resolve) => setTimeout(resolve, 2000))]);
    this.identity = await wire.newIdentity();
    this.joinDeadline = Date.now() + 15000;
    this.connect();
  }

  wsUrl() {
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.hash = "";
    url.search = "";
    return url.toString();
  }

  connect() {
    if (this.stopped) return;
    const ws = new WebSocket(this.wsUrl());
    this.ws = ws;
    this.lastHeard = Date.now();
    ws.onmessage = (message) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let data;
      try {
        data = JSON.parse(message.data);
      } catch (_error) {
        return;
      }
      this.onMessage(data);
    };
    ws.onclose = (close) => {
      if (ws === this.ws) this.dropped(close.code);
    };
  }

  dropped(code) {
    this.ws = null;
    this.serverUp = false;
    this.render();
    if (code === 4001) {
      this.stop(_("This board was opened in another window or tab."));
    }
    if (this.stopped || this.ended) return;
    const wait = RECONNECT_MS[Math.min(this.attempt, RECONNECT_MS.length - 1)];
    this.attempt += 1;
    setTimeout(() => this.connect(), wait);
  }

  drop() {
    // Nothing heard for too long: this socket is dead even if the browser has not noticed.
    const ws = this.ws;
    if (ws === null) return;
    this.ws = null;
    ws.onmessage = ws.onclose = null;
    try { ws.close(); } catch (_error) { /* already closing */ }
    this.dropped(0);
  }

  stop(why) {
    this.stopped = why;
    $("server-line").textContent = why;
  }

  send(message) {
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  sendJoin() {
    const join = { type: "join", rid: "join", protocol: PROTOCOL, invite: this.invite, as_role: ROLE, device: deviceSecret(),
      public_key: this.identity.publicKey, box_key: this.identity.boxKey, language: i18n.language() };
    if (this.joined) join.last_seq = this.lastSeq; // our own place back, with what we missed
    this.send(join);
  }

  onMessage(m) {
    switch (m.type) {
      case "welcome":
        if (this.resumeToken) this.send({ type: "resume", rid: "resume", protocol: PROTOCOL, resume_token: this.resumeToken, last_seq: this.lastSeq });
        else this.sendJoin();
        break;
      case "joined":
        this.onJoined(m);
        break;
      case "presence":
        if (m.session_id === this.sessionId) this.members = m.members;
        if (this.homeLink) this.homeLink.presence(this.members);
        break;
      case "event":
        if (m.session_id !== this.sessionId || m.seq <= this.lastSeq) return;
        this.lastSeq = m.seq;
        this.save();
        this.receive(m.event_id, m.event, m.from_role, "server");
        break;
      case "event_ack":
        this.outbox.delete(m.event_id);
        break;
      case "signal":
        if (this.homeLink) this.homeLink.signal(m);
        break;
      case "error":
        this.onError(m);
        break;
      default:
        break; // ok (our pings), and anything a later version adds
    }
  }

  onJoined(m) {
    const fresh = !m.resumed;
    this.memberId = m.member_id;
    this.sessionId = m.session_id;
    this.members = m.members;
    this.resumeToken = m.resume_token;
    if (fresh) this.lastSeq = m.last_seq; // the timeline starts afresh for us
    this.joined = true;
    this.serverUp = true;
    this.attempt = 0;
    this.save();
    for (const [eventId, copy] of this.outbox) this.sendEvent(eventId, copy); // same ids: kept once
    showBoard();
    if (this.homeLink === null && typeof RTCPeerConnection !== "undefined") this.homeLink = new HomeLink(this);
    if (this.homeLink) this.homeLink.presence(this.members);
    this.render();
  }

  onError(m) {
    this.errors.push(m.code);
    console.info("server refused", m.code, m.rid ?? "");
    if (m.rid === "resume" && m.code === "resume_invalid") {
      this.resumeToken = null; // the server forgot us: the invite and our device take it back
      this.sendJoin();
    } else if (m.rid === "join" && m.code === "invite_in_use" && Date.now() < this.joinDeadline) {
      setTimeout(() => this.sendJoin(), 500); // our old socket, not yet known dead
    } else if (m.rid === "join" || m.rid === "resume") {
      const said = m.message ?? "";
      const words = _(said); // the server's English words are in the catalogue too
      if (!this.joined) {
        this.stop(words);
        showJoin(words);
      } else {
        this.stop(words);
      }
    } else if (m.code === "unavailable") {
      setTimeout(() => { for (const [id, copy] of this.outbox) this.sendEvent(id, copy); }, 2000);
    }
  }

  save() {
    sessionStorage.setItem(SAVED, JSON.stringify({
      // No resume token and no keys: the keys live in this page's memory only, so a reload
      // takes its place back by joining from this device (last_seq: what it missed).
      invite: this.invite, lastSeq: this.lastSeq, startedAt: this.startedAt,
    }));
  }

  tick() {
    const now = Date.now();
    // A timer that ran late (a tab in the background, a frozen page) says nothing about the
    // socket: start counting silence afresh rather than call it dead.
    const late = this.lastTick && now - this.lastTick > 2 * PING_EVERY_MS;
    this.lastTick = now;
    if (late) this.lastHeard = now;
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) {
      if (now - this.lastHeard > DEAD_AFTER_MS) this.drop();
      else this.send({ type: "ping", rid: `p${++this.rid % 1000}` });
    }
    this.due(now / 1000);
    this.homeSilent(now);
    this.render();
  }

  // -- events in: the authority table, opened words, strict bodies, each id once

  receive(eventId, event, fromRole, path) {
    this.incoming = this.incoming.then(() => this.accept(eventId, event, fromRole, path)).catch((error) => {
      console.warn("an event could not be applied:", error?.name);
    });
    return this.incoming;
  }

  refuse(kind, reason, path) {
    this.refused.push([kind, reason, path]);
    console.warn(`refused a ${kind} event over ${path}: ${reason}`); // the kind, never the words
  }

  async accept(eventId, event, fromRole, path) {
    const kind = typeof event?.kind === "string" ? event.kind : "unknown";
    if (!wire.validBody(event)) return this.refuse(kind, "does not fit the protocol", path);
    if (!wire.permitted(event, fromRole ?? null, ROLE)) return this.refuse(kind, `not the ${fromRole ?? "server"}'s to send or not ours to read`, path);
    if (wire.raiserOnly(kind)) {
      const alert = this.alerts.get(event.alert_id);
      if (alert && alert.raisedBy !== fromRole) return this.refuse(kind, "not raised by that role", path);
    }
    const opened = await wire.openEvent(wire.known(event), this.memberId, this.identity, this.sessionId, eventId);
    if (opened === null) return this.refuse(kind, "its words could not be opened", path);
    if (kind === "link.state" && fromRole === "patient") {
      // Each path brings one sender's events in the order it made them, so the last on a
      // path is its current state, even a copy already seen by another path: a copy that
      // waited in the home link's queue from before we joined must not undo a newer one.
      this.linkBy[path] = opened.state;
      this.render();
    }
    if (this.seen.has(eventId)) return;
    this.seen.add(eventId);
    this.apply(opened, fromRole ?? null);
  }

  apply(event, fromRole) {
    switch (event.kind) {
      case "checkin":
        this.lastCheckinAt = Date.now();
        break;
      case "alert.raised":
        this.raised(event, fromRole);
        break;
      case "alert.ack":
      case "alert.resolved":
        this.close(event.alert_id, event.kind === "alert.ack" ? "acked" : "resolved");
        break;
      case "with_patient":
        for (const a of this.alerts.values()) {
          if (a.closed === null && ["go_to_patient", "help", "link_lost"].includes(a.reason)) this.close(a.alertId, "acked");
        }
        if (fromRole !== ROLE || !this.thanked) $("message").textContent = _("The support person is with the patient.");
        break;
      case "session.clock":
        // The therapist's start of the session: the console and this board read the same.
        this.startedAt = event.started_at * 1000;
        this.save();
        break;
      case "ladder.config":
        this.goAfterS = event.go_to_patient_after_s ?? 30;
        break;
      case "plan":
        this.plan = event;
        this.planReminders(event);
        break;
      case "card":
        this.card = event;
        break;
      case "message":
        if (event.to_role === ROLE) {
          const note = $("from-therapist");
          note.textContent = format(_("From the therapist, {time}:"), { time: clock() }) + `\n${event.text}`;
          note.hidden = false;
        }
        break;
      case "computer":
        if (COMPUTER_LINES[event.what]) $("message").textContent = _(COMPUTER_LINES[event.what]);
        break;
      case "session.end":
        this.sessionEnded();
        break;
      default:
        break;
    }
    this.render();
  }

  // -- alerts: shown, sounded, answered

  raised(event, fromRole) {
    if (this.alerts.has(event.alert_id)) return;
    const alert = { alertId: event.alert_id, reason: event.reason, urgent: event.urgent === true,
      forRoles: event.for_roles ?? ["therapist", "support"], raisedBy: fromRole, closed: null, shownAt: null, nextSound: null };
    this.alerts.set(alert.alertId, alert);
    if (!alert.forRoles.includes(ROLE)) return;
    const calling = [...this.alerts.values()].some((a) => a !== alert && a.reason === "go_to_patient" && a.closed === null && a.shownAt !== null);
    if (alert.reason === "go_to_patient" && calling) return; // one call, not two
    this.show(alert);
  }

  show(alert) {
    alert.shownAt = Date.now();
    alert.since = new Date();
    alert.repeats = alert.urgent;
    $("message").textContent = ""; // a new call makes an earlier "Thank you…" old news
    this.thanked = false;
    this.showCall();
    $("with-patient").focus();
    this.sounds.play(alert.urgent ? "call" : "soft_chime");
    if (alert.repeats) alert.nextSound = Date.now() + REPEAT_EVERY_S * 1000;
  }

  showCall() {
    // The most pressing open alert speaks: a later piece of news never hides a call.
    const pressing = (a) => a.urgent || URGENT_REASONS.includes(a.reason);
    const open = this.openAlerts().sort((a, b) => (pressing(a) - pressing(b)) || (a.shownAt - b.shownAt));
    const panel = $("call");
    if (open.length === 0) {
      panel.hidden = true;
      if (this.reminder && !this.reminder.done && this.remindAgainAt === null) $("reminder").hidden = false;
      return;
    }
    const alert = open[open.length - 1];
    const urgent = pressing(alert);
    $("call-text").textContent = _(CALL_WORDS[alert.reason] ?? N_("Please go to the patient"));
    panel.classList.toggle("news", !urgent); // a lost link is news, not yet a call: amber
    $("call-when").textContent = format(_("Since {time}."), { time: clock(alert.since) }) + " " + (urgent
      ? _("Press the button once you are with them.")
      : _("No need to go yet: you will be asked if you should."));
    panel.hidden = false;
    if (urgent) $("reminder").hidden = true;
  }

  close(alertId, how) {
    const alert = this.alerts.get(alertId);
    if (!alert || alert.closed !== null) return;
    alert.closed = how;
    this.showCall();
  }

  openAlerts() {
    return [...this.alerts.values()].filter((a) => a.closed === null && a.shownAt !== null);
  }

  async withPatient() {
    // Every open call answered (alert.ack), and "I'm with the patient" for the therapist.
    const open = this.openAlerts();
    for (const alert of open) await this.publish({ kind: "alert.ack", alert_id: alert.alertId });
    await this.publish({ kind: "with_patient" });
    $("call").hidden = true;
    this.thanked = true;
    $("message").textContent = _("Thank you. The therapist can see you're with the patient.");
  }

  // -- the home link: what the board knows first-hand, and its own step of the ladder

  homeChanged(state) {
    this.homeState = state;
    if (state === "lost") this.homeLostAt = this.homeLostAt ?? Date.now();
    else if (state === "connected" || state === "recovering") {
      this.homeLostAt = null;
      this.calledThisOutage = false;
      const own = this.ownCall;
      this.ownCall = null;
      if (own !== null && this.alerts.get(own)?.closed === null) this.publish({ kind: "alert.resolved", alert_id: own });
    }
    this.render();
  }

  homeSilent(now) {
    // The patient's computer itself may be down: nothing heard over the home network for
    // go_to_patient_after_s calls the support person, unless a call is open already.
    if (this.ended || this.homeLostAt === null || this.calledThisOutage || now - this.homeLostAt < this.goAfterS * 1000) return;
    this.calledThisOutage = true;
    const calling = [...this.alerts.values()].some((a) => a.reason === "go_to_patient" && a.closed === null);
    if (calling) return;
    this.ownCall = wire.b64url(crypto.getRandomValues(new Uint8Array(12)));
    this.publish({ kind: "alert.raised", alert_id: this.ownCall, reason: "go_to_patient", urgent: true, for_roles: ["support", "therapist"] });
  }

  sessionEnded() {
    this.ended = true;
    for (const a of this.alerts.values()) {
      if (a.closed === null && ["link_lost", "go_to_patient", "checkin_unanswered"].includes(a.reason)) this.close(a.alertId, "resolved");
    }
    $("call").hidden = true;
    $("reminder").hidden = true;
    sessionStorage.removeItem(SAVED);
    if (this.homeLink) this.homeLink.close();
    this.send({ type: "leave", rid: "leave" });
  }

  // -- events out: every path, one id; the server's copy with its words sealed

  async publish(event) {
    if (!wire.maySend(ROLE, event.kind)) throw new Error(`the ${ROLE} may not send ${event.kind}`);
    const eventId = crypto.randomUUID();
    this.seen.add(eventId);
    if (this.homeLink) this.homeLink.sendEvent(eventId, event);
    const copy = await this.sealed(event, eventId);
    this.outbox.set(eventId, copy);
    this.sendEvent(eventId, copy);
    this.apply(event, ROLE);
    return eventId;
  }

  async sealed(event, eventId) {
    const recipients = {};
    for (const m of this.members) {
      if (m.box_key && m.status !== "left" && wire.mayRead(m.role, event)) recipients[m.member_id] = m.box_key;
    }
    recipients[this.memberId] = this.identity.boxKey;
    return wire.sealEvent(event, recipients, this.sessionId, eventId);
  }

  sendEvent(eventId, event) {
    // No rid: an event's reply is its event_ack (or an error without one, docs/protocol.md).
    return this.send({ type: "event", event_id: eventId, event });
  }

  // -- paced checks from the therapist's plan (as companion/app/core.py)

  planReminders(plan) {
    if (plan.dose_at === null || plan.dose_at === undefined) return;
    const done = new Set(this.reminders.filter((r) => r.done).map((r) => `${r.kind}@${Math.round(r.dueAt)}`));
    const list = (plan.vitals_at_min ?? [-5, 40]).map((m) => ({ kind: "vitals", dueAt: plan.dose_at + m * 60 }));
    const every = plan.lookin_every_min ?? 15;
    if (every) {
      for (let k = 1; k <= Math.floor((4 * 3600) / (every * 60)); k++) list.push({ kind: "lookin", dueAt: plan.dose_at + k * every * 60 });
    }
    this.reminders = list.sort((a, b) => a.dueAt - b.dueAt).map((r, i) => ({
      ...r, id: `${r.kind}-${i}`, done: done.has(`${r.kind}@${Math.round(r.dueAt)}`), announced: false,
    }));
  }

  due(now) {
    for (const r of this.reminders) {
      if (!r.done && !r.announced && r.dueAt <= now) {
        r.announced = true;
        this.remindOf(r);
      }
    }
    if (this.remindAgainAt !== null && Date.now() >= this.remindAgainAt) {
      this.remindAgainAt = null;
      if (this.reminder && !this.reminder.done) this.present(this.reminder);
    }
    for (const alert of this.openAlerts()) {
      if (alert.repeats && alert.nextSound !== null && Date.now() >= alert.nextSound) {
        alert.nextSound = Date.now() + REPEAT_EVERY_S * 1000;
        this.sounds.play("call");
      }
    }
  }

  remindOf(reminder) {
    const current = this.reminder;
    if (current && !current.done && current.id !== reminder.id && !$("reminder").hidden) {
      if (reminder.kind !== current.kind && !this.queue.some((r) => r.kind === reminder.kind)) this.queue.push(reminder);
      return;
    }
    this.present(reminder);
  }

  present(reminder) {
    this.reminder = reminder;
    this.remindAgainAt = null;
    const vitals = reminder.kind === "vitals";
    reminderWords(reminder);
    $("vitals-row").hidden = !vitals;
    for (const id of ["systolic", "diastolic", "heart-rate"]) $(id).value = "";
    $("reminder-later").hidden = reminder.id === "manual";
    this.vitalsEntered();
    $("reminder").hidden = this.openAlerts().some((a) => a.urgent);
    if (!$("reminder").hidden && this.openAlerts().length === 0) $(vitals ? "systolic" : "reminder-done").focus();
  }

  vitalsValues() {
    return ["systolic", "diastolic", "heart-rate"].map((id) => {
      const box = $(id);
      const value = Number(box.value);
      return box.value !== "" && Number.isInteger(value) && value >= Number(box.min) && value <= Number(box.max) ? value : null;
    });
  }

  vitalsEntered() {
    const vitals = this.reminder && this.reminder.kind === "vitals";
    $("reminder-done").disabled = vitals && this.vitalsValues().includes(null);
  }

  later() {
    $("reminder").hidden = true;
    this.remindAgainAt = Date.now() + REMIND_AGAIN_S * 1000;
  }

  async reminderAnswered() {
    const reminder = this.reminder;
    if (!reminder) return;
    $("reminder").hidden = true;
    this.remindAgainAt = null;
    reminder.done = true;
    const soon = Date.now() / 1000 + 120;
    for (const r of this.reminders) if (r.kind === reminder.kind && r.dueAt <= soon) r.done = true;
    if (reminder.kind === "vitals") {
      const [systolic, diastolic, heartRate] = this.vitalsValues();
      await this.publish({ kind: "vitals", systolic, diastolic, heart_rate: heartRate });
      $("message").textContent = format(_("Vitals sent to the therapist at {time}. Thank you."), { time: clock() });
    } else {
      await this.publish({ kind: "lookin" });
      $("message").textContent = format(_("Looked in at {time}. Thank you."), { time: clock() });
    }
    while (this.queue.length) {
      const waiting = this.queue.shift();
      if (!waiting.done) { this.present(waiting); break; }
    }
  }

  // -- what the board shows

  render() {
    if (!this.joined) return;
    const state = $("state");
    if (this.ended) {
      state.textContent = _("The session has ended");
      state.className = "state";
    } else {
      // The patient's own report of the call first; else what the home link knows first-hand.
      const link = this.callState() ?? this.homeState;
      state.textContent = _(link === null ? NOT_STARTED : LINK_WORDS[link]);
      state.className = `state ${link ?? ""}`;
    }
    const ago = this.lastCheckinAt === null ? null : (Date.now() - this.lastCheckinAt) / 1000;
    $("checkin").textContent = format(_("Last check-in: {ago}"), { ago: formatAgo(ago) });
    if (!this.ended) $("elapsed").textContent = format(_("Session time {elapsed}"), { elapsed: formatElapsed((Date.now() - this.startedAt) / 1000) });
    const number = this.emergencyNumber();
    $("emergency-line").textContent = number ? format(_("Emergency number: {number}"), { number }) : "";
    if (!this.stopped) $("server-line").textContent = this.serverUp || this.ended ? "" : _("Reconnecting to the clinic…");
    $("sound-on").hidden = this.sounds.running || this.ended;
  }

  callState() {
    // The server's ordered timeline while it is there; the home link's otherwise.
    const { server, home } = this.linkBy;
    return (this.serverUp ? server ?? home : home ?? server) ?? null;
  }

  emergencyNumber() {
    return this.plan?.emergency_number || this.card?.emergency_number || "";
  }

  showInstructions() {
    const plan = this.plan;
    $("instructions-text").textContent = plan && plan.instructions
      ? plan.instructions
      : _("The therapist has not left instructions yet. If you are worried, go to the patient, and call the emergency number if they need urgent help.");
    $("instructions-number").textContent = plan && plan.emergency_number ? plan.emergency_number : "—";
    openSheet("instructions-panel");
  }

  showCard() {
    const body = $("card-body");
    body.replaceChildren();
    const para = (text, cls) => { const p = document.createElement("p"); p.textContent = text; if (cls) p.className = cls; return p; };
    const card = this.card;
    if (card === null) {
      body.append(para(_("The patient has not filled in the emergency card yet.")));
      const number = this.plan?.emergency_number || _("your local emergency number");
      body.append(para(format(_("In an emergency call {number}."), { number }), "card-number"));
    } else {
      body.append(para(_("At-home ketamine-assisted therapy session. For paramedics and anyone helping.")));
      body.append(para(format(_("Emergency number: {number}"), { number: card.emergency_number || this.plan?.emergency_number || "—" }), "card-number"));
      const table = document.createElement("table");
      for (const [label, value] of [
        [_("Patient"), card.patient_name], [_("Address"), card.address],
        [_("Taken (what, how much, when)"), card.taken], [_("Current medications"), card.medications],
        [_("Therapist"), card.therapist_contact], [_("Prescriber"), card.prescriber_contact],
        [_("Support person"), `${card.support_name ?? ""} ${card.support_phone ?? ""}`.trim()],
      ]) {
        const row = table.insertRow();
        const th = document.createElement("th");
        th.textContent = label;
        row.append(th);
        row.insertCell().textContent = value || "—";
      }
      body.append(table);
    }
    openSheet("card-panel");
  }
}

// -- the page

function reminderWords(reminder) {
  const vitals = reminder.kind === "vitals";
  $("reminder-text").textContent = vitals ? _("Time to take blood pressure and heart rate") : _("Time to look in on the patient");
  $("reminder-done").textContent = vitals ? _("Save and send to the therapist") : _("I looked in");
}

let lastFocus = null;
function openSheet(id) {
  lastFocus = document.activeElement;
  $(id).hidden = false;
  $(id).querySelector("button").focus();
}

function closeSheets() {
  for (const sheet of document.querySelectorAll(".sheet")) sheet.hidden = true;
  if (lastFocus) lastFocus.focus();
}

function showBoard() {
  $("join-page").hidden = true;
  $("board").hidden = false;
}

function showJoin(message) {
  $("board").hidden = true;
  $("join-page").hidden = false;
  $("join-message").textContent = message;
  $("join").disabled = false;
}

const board = new Board();
window.companionBoard = board; // for the tests and for a look in the browser's console

async function joinPressed() {
  const text = $("code").value;
  if (!text.trim()) {
    $("join-message").textContent = _("Paste the link or type the code first.");
    return;
  }
  board.sounds.unlock();
  $("join").disabled = true;
  $("join-message").textContent = _("Connecting…");
  board.stopped = "";
  board.resumeToken = null;
  board.startedAt = Date.now();
  await board.start(inviteFrom(text));
}

function wireUp() {
  $("join").addEventListener("click", joinPressed);
  $("code").addEventListener("keydown", (e) => { if (e.key === "Enter") joinPressed(); });
  $("with-patient").addEventListener("click", () => { board.sounds.unlock(); board.withPatient(); });
  $("reminder-done").addEventListener("click", () => board.reminderAnswered());
  $("reminder-later").addEventListener("click", () => board.later());
  for (const id of ["systolic", "diastolic", "heart-rate"]) $(id).addEventListener("input", () => board.vitalsEntered());
  $("show-instructions").addEventListener("click", () => board.showInstructions());
  $("show-card").addEventListener("click", () => board.showCard());
  $("record-vitals").addEventListener("click", () => board.present({ id: "manual", kind: "vitals", dueAt: Date.now() / 1000, done: false }));
  $("print-card").addEventListener("click", () => window.print());
  $("sound-on").addEventListener("click", () => { board.sounds.unlock(); board.render(); });
  for (const button of document.querySelectorAll(".close-sheet")) button.addEventListener("click", closeSheets);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeSheets(); });
  window.addEventListener("beforeunload", (e) => {
    // Mid-session, closing asks first: the therapist sees no support person is connected.
    if (board.joined && !board.ended) e.preventDefault();
  });
  // Coming back to the page: the socket may have died unseen meanwhile; check at once.
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { board.lastTick = 0; board.tick(); } });
  setInterval(() => board.tick(), PING_EVERY_MS);
}

function fillPicker() {
  const picker = $("language");
  picker.replaceChildren();
  for (const { code, name } of i18n.languages()) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = name; // each language named in itself ("Español")
    picker.append(option);
  }
  picker.value = i18n.language();
}

function relabel() {
  // Words the board wrote itself, written again in the new language.
  board.render();
  if (!$("call").hidden) board.showCall();
  if (board.reminder) reminderWords(board.reminder);
}

async function begin() {
  wireUp();
  i18n.onChange(() => { fillPicker(); relabel(); });
  $("language").addEventListener("change", async (e) => {
    await i18n.choose(e.target.value);
    // Joined: the server writes to this person's phone in the new language from now on.
    if (board.joined) board.send({ type: "set_language", rid: "language", language: i18n.language() });
  });
  // The words come from the server; the board works meanwhile (and in English without them).
  i18n.use(i18n.wanted());
  // The invite rides in the fragment, which never reaches a server; it leaves the address
  // bar at once (no bookmark, screenshot or shared tab carries it).
  const fromLink = /[#&]invite=([^&]+)/.exec(location.hash);
  if (fromLink) {
    $("code").value = decodeURIComponent(fromLink[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(SAVED) ?? "null"); } catch (_error) { saved = null; }
  if (saved && saved.invite && !fromLink) {
    // This tab was on the board (a reload): back to it with the same place, asking nothing.
    board.lastSeq = saved.lastSeq ?? 0;
    board.startedAt = saved.startedAt ?? Date.now();
    board.joined = true; // its own place: the join carries last_seq
    $("code").value = saved.invite;
    await board.start(saved.invite);
  }
}

begin();
