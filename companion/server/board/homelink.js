// The home link from the board to the patient's app (docs/peer-protocol.md): a data-only
// peer connection over the home network (no ICE servers: host candidates only), answered
// here, offered by the patient's app. Heartbeats both ways; session events signed with the
// sender's session key and checked against the key the server vouched for. With the
// clinic's server (or the home's internet) gone, the patient's app still reaches the board.
import * as wire from "./wire.js";

const HB_EVERY_MS = 250;
const INTERRUPTED_MS = 1000; // never-alone.md, "Evidence and states"
const LOST_MS = 1600;
const RECOVERED_MS = 1000;
const OFFER_GRACE_MS = 1000; // an answerer with no connection asks for one offer after this
const GATHER_MS = 3000;
const RESTART_AFTER_MS = [5000, 2000, 4000, 8000];

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export class HomeLink {
  constructor(board) {
    this.board = board;
    this.pc = null;
    this.pcId = null;
    this.peer = null; // the patient's member id this connection was opened with
    this.control = null;
    this.heartbeat = null;
    this.generation = 0;
    this.seq = 0; // counts on across connections (a reload starts at 1 again)
    this.acked = 0; // the highest hb seq received on this connection
    this.ackedSeen = 0; // the highest acked of ours seen on the link
    this.lastIn = 0;
    this.lastOut = 0;
    this.state = null; // null until first up: "connected" | "interrupted" | "lost" | "recovering"
    this.upOnce = false;
    this.evidenceSince = 0;
    this.unsent = [];
    this.answerSdp = ""; // the last answer sent (its candidates: what the patient's app must reach)
    this.asked = false;
    this.lostSince = 0;
    this.restarts = 0;
    this.timer = setInterval(() => this.beat(), HB_EVERY_MS);
  }

  patient(members) {
    return members.find((m) => m.role === "patient" && m.status === "online") ?? null;
  }

  expected(memberId) {
    return this.board.members.find((m) => m.member_id === memberId && m.role === "patient") ?? null;
  }

  presence(members) {
    const patient = this.patient(members);
    if (patient === null || this.asked) return;
    const working = this.pc !== null && ["new", "connecting", "connected"].includes(this.pc.connectionState);
    if (working && this.peer === patient.member_id) return;
    if (this.pc === null) {
      // The patient's app offers by itself; if nothing came, ask for one offer (restart).
      this.asked = true;
      setTimeout(() => {
        this.asked = false;
        const now = this.patient(this.board.members);
        if (this.pc === null && now !== null) this.restart(now.member_id);
      }, OFFER_GRACE_MS);
    }
  }

  restart(peer) {
    this.board.send({ type: "signal", to: peer, pc_id: this.pcId ?? this.newPcId(), data: { kind: "restart" } });
  }

  newPcId() {
    this.generation += 1;
    return `home-${this.generation}-${wire.b64url(crypto.getRandomValues(new Uint8Array(6)))}`;
  }

  signal(m) {
    if (typeof m.pc_id !== "string" || !m.pc_id.startsWith("home-")) return;
    const data = m.data;
    if (this.expected(m.from_member) === null || !isObject(data)) {
      console.warn("home link refused a signal from a member it does not expect");
      return;
    }
    if (data.kind === "offer" && typeof data.sdp === "string") {
      this.answer(m.from_member, m.pc_id, data.sdp).catch((error) => console.warn("home link answer failed:", error?.name));
    } else if (data.kind === "hangup" && m.pc_id === this.pcId) {
      this.closePc();
    }
  }

  async answer(peer, pcId, sdp) {
    this.closePc();
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    this.pcId = pcId;
    this.peer = peer;
    this.acked = 0;
    pc.ondatachannel = (e) => this.wireChannel(e.channel);
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((resolve) => {
      // No trickle: the answer carries every candidate gathered.
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_MS);
    });
    if (pc !== this.pc) return;
    this.answerSdp = pc.localDescription.sdp;
    this.board.send({ type: "signal", to: peer, pc_id: pcId, data: { kind: "answer", sdp: pc.localDescription.sdp } });
  }

  close() {
    clearInterval(this.timer);
    this.closePc();
  }

  closePc() {
    const pc = this.pc;
    this.pc = this.control = this.heartbeat = null;
    if (pc !== null) pc.close();
  }

  wireChannel(channel) {
    if (channel.label === "heartbeat") this.heartbeat = channel;
    else if (channel.label === "control") {
      this.control = channel;
      channel.onopen = () => this.flush();
      if (channel.readyState === "open") this.flush();
    } else return;
    channel.onmessage = (e) => this.onMessage(channel, e.data);
  }

  onMessage(channel, raw) {
    let m;
    try { m = JSON.parse(raw); } catch (_error) { return; }
    if (!isObject(m) || channel.readyState !== "open") return;
    const now = performance.now();
    if (m.type === "hb" && Number.isInteger(m.seq) && m.seq >= 0 && typeof m.sent_ms === "number") {
      this.lastIn = now;
      this.acked = Math.max(this.acked, m.seq);
      if (Number.isInteger(m.acked) && m.acked > this.ackedSeen) {
        this.ackedSeen = m.acked; // proof our way out works: only when higher than before
        this.lastOut = now;
      }
      this.sendOn(this.heartbeat, { type: "hb_echo", seq: m.seq, sent_ms: m.sent_ms });
    } else if (m.type === "hb_echo" && Number.isInteger(m.seq) && m.seq <= this.seq) {
      this.lastOut = now;
    } else if (m.type === "event") {
      this.onEvent(m);
    }
  }

  async onEvent(m) {
    // peer-protocol.md: the member this connection is with, its vouched key, the signature
    // over the five lines, then (in the board) a strict body and the authority table.
    const sender = this.expected(m.from_member);
    const valid = typeof m.event_id === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(m.event_id) &&
      typeof m.body === "string" && m.body.length <= 48 * 1024 && typeof m.sig === "string";
    let reason = null;
    if (!valid) reason = "does not fit the protocol"; // i18n: not words (a console line)
    else if (sender === null || m.from_member !== this.peer) reason = "not from the member this connection is with"; // i18n: not words (a console line)
    else if (!sender.public_key) reason = "the sender has no key vouched for by the server"; // i18n: not words (a console line)
    else if (!(await wire.verifyBytes(sender.public_key, wire.peerEventInput(this.board.sessionId, m.event_id, m.from_member, m.body), m.sig))) reason = "the signature does not verify"; // i18n: not words (a console line)
    if (reason !== null) {
      this.board.refuse("event", reason, "home");
      return;
    }
    let body;
    try { body = JSON.parse(m.body); } catch (_error) { return this.board.refuse("event", "the body is not JSON", "home"); }
    await this.board.receive(m.event_id, body, sender.role, "home");
  }

  /** Down the home link, if the patient may read it; queued while the channel is closed. */
  async sendEvent(eventId, event) {
    if (!wire.mayRead("patient", event)) return;
    const body = JSON.stringify(event);
    const data = wire.peerEventInput(this.board.sessionId, eventId, this.board.memberId, body);
    const message = { type: "event", event_id: eventId, from_member: this.board.memberId, body,
      sig: await wire.signBytes(this.board.identity, data) };
    this.unsent.push(message);
    this.flush();
  }

  flush() {
    while (this.unsent.length && this.sendOn(this.control, this.unsent[0])) this.unsent.shift();
  }

  sendOn(channel, message) {
    if (channel === null || channel.readyState !== "open") return false;
    try {
      channel.send(JSON.stringify(message));
      return true;
    } catch (_error) {
      return false;
    }
  }

  beat() {
    if (this.heartbeat !== null && this.heartbeat.readyState === "open") {
      this.seq += 1;
      this.sendOn(this.heartbeat, { type: "hb", seq: this.seq, sent_ms: performance.now(), acked: this.acked, heard_ms: null });
    }
    this.watch(performance.now());
  }

  watch(now) {
    // Silence is measured from the older of the two ways (never-alone.md).
    const silent = this.lastIn && this.lastOut ? now - Math.min(this.lastIn, this.lastOut) : Infinity;
    let state = this.state;
    if (silent <= INTERRUPTED_MS) {
      if (state === null || state === "interrupted") state = "connected";
      else if (state === "lost") { state = "recovering"; this.evidenceSince = now; }
      else if (state === "recovering" && now - this.evidenceSince >= RECOVERED_MS) state = "connected";
    } else if (state !== null) {
      if (state === "recovering") { /* a gap while recovering: back to lost */ state = silent > 500 ? "lost" : state; }
      else if (silent > LOST_MS) state = "lost";
      else if (state === "connected") state = "interrupted";
    }
    if (state !== this.state) this.changed(state, now);
    if (this.state === "lost") this.heal(now);
  }

  changed(state, now) {
    this.state = state;
    this.upOnce = this.upOnce || state === "connected";
    if (state === "lost") { this.lostSince = now; this.restarts = 0; }
    this.board.homeChanged(state);
  }

  heal(now) {
    // Lost: ask the patient's app for a fresh connection after 5 s, then 2, 4, 8, 8… s.
    const waits = RESTART_AFTER_MS;
    const due = this.lostSince + waits.slice(0, this.restarts + 1).reduce((a, b) => a + b, 0) + Math.max(0, this.restarts - 3) * 8000;
    const patient = this.patient(this.board.members);
    if (now >= due && patient !== null && this.board.serverUp) {
      this.restarts += 1;
      this.restart(patient.member_id);
    }
  }
}
