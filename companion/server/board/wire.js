// The protocol's rules as the board applies them (docs/protocol.md, docs/peer-protocol.md):
// the authority table, strict event bodies, session keys (Ed25519, X25519), signed peer
// events and sealed words. Mirrors companion/protocol/{authority,identity,sealing}.py.

export const ROLES = ["therapist", "patient", "support"];
const ALL = ROLES;
const SERVER = [];

// kind: [senders, readers, addressed, raiserOnly, fromServer (the server may write it too)]
const RULES = {
  "checkin": [["patient"], ALL],
  "help": [["patient"], ALL],
  "intention": [["patient"], ["patient", "therapist"]],
  "card": [["patient"], ALL],
  "music.status": [["patient"], ALL],
  "computer": [["patient"], ALL],
  "spoken": [["patient"], ["patient", "therapist"]],
  "checkin.request": [["therapist"], ALL],
  "prompt.push": [["therapist"], ["therapist", "patient"]],
  "music.command": [["therapist"], ["therapist", "patient"]],
  "message": [["therapist"], ["therapist"], true],
  "ladder.config": [["therapist"], ALL],
  "plan": [["therapist"], ALL],
  "session.end": [["therapist"], ALL],
  "session.clock": [["therapist"], ALL],
  "voice.chunk": [["therapist"], ["therapist", "patient"]],
  "with_patient": [["support"], ALL],
  "vitals": [["support"], ["therapist", "support"]],
  "lookin": [["support"], ["therapist", "support"]],
  "link.state": [ALL, ALL],
  "alert.raised": [ALL, ALL],
  "alert.ack": [["therapist", "support"], ALL, false, false, true], // a phone's acknowledge link
  "alert.resolved": [ALL, ALL, false, true],
  "member.joined": [SERVER, ALL],
  "member.left": [SERVER, ALL],
  "member.lost": [SERVER, ALL],
  "member.back": [SERVER, ALL],
  "member.refused": [SERVER, ["therapist"]],
  "escalation": [SERVER, ["therapist", "support"]],
  "contacts": [SERVER, ["therapist", "support"]],
};

/** May `role` (null: the server itself) send events of `kind`? */
export function maySend(role, kind) {
  const rule = RULES[kind];
  if (!rule) return false;
  return role === null ? rule[0].length === 0 || rule[4] === true : rule[0].includes(role);
}

export function mayRead(role, event) {
  const rule = RULES[event.kind];
  if (!rule) return false;
  return rule[1].includes(role) || (rule[2] === true && event.to_role === role);
}

export function permitted(event, fromRole, reader) {
  return maySend(fromRole, event.kind) && mayRead(reader, event);
}

export function raiserOnly(kind) {
  return RULES[kind]?.[3] === true;
}

// -- strict bodies: unknown fields, wrong types and out-of-range values are refused

const isStr = (max, min = 0) => (v) => typeof v === "string" && v.length >= min && [...v].length <= max;
const isInt = (lo, hi) => (v) => Number.isInteger(v) && v >= lo && v <= hi;
const isNum = (lo, hi) => (v) => typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi;
const isBool = (v) => typeof v === "boolean";
const oneOf = (...values) => (v) => values.includes(v);
const orNull = (check) => (v) => v === null || check(v);
const isId = (v) => typeof v === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(v);
const isSlug = (v) => typeof v === "string" && /^[a-z0-9][a-z0-9_.-]{0,63}$/.test(v);
const isB64 = (min, max) => (v) => typeof v === "string" && v.length >= min && v.length <= max && /^[A-Za-z0-9_-]*$/.test(v);
const listOf = (check, max, min = 0) => (v) => Array.isArray(v) && v.length >= min && v.length <= max && v.every(check);
const isSealed = (v) =>
  v !== null && typeof v === "object" && !Array.isArray(v) &&
  exactly(v, {
    eph: isB64(43, 43), nonce: isB64(16, 16), ct: isB64(22, 16384),
    keys: listOf((k) => k !== null && typeof k === "object" && exactly(k, { member_id: isId, key: isB64(64, 64) }, ["member_id", "key"]), 64, 1),
  }, ["eph", "nonce", "ct", "keys"]);
const ROLE = oneOf(...ROLES);
const STATE = oneOf("connected", "degraded", "interrupted", "lost", "recovering");
const contact = isStr(500);
const member = { member_id: isId, role: ROLE };

// kind: [fields, required fields]; sealable kinds also take `sealed`
const BODIES = {
  "checkin": [{ source: oneOf("button", "key"), request_id: orNull(isId) }, []],
  "help": [{ held_ms: isInt(0, 60000) }, []],
  "checkin.request": [{ request_id: isId, answer_within_s: isInt(10, 600) }, ["request_id"]],
  "prompt.push": [{ prompt_id: isSlug }, ["prompt_id"]],
  "music.command": [{ action: oneOf("play", "pause", "next", "previous", "set_volume", "choose_playlist"), volume_db: orNull(isNum(-60, 0)), playlist: orNull(isSlug) }, ["action"]],
  "music.status": [{ playing: isBool, title: isStr(120), position_s: isNum(0, Infinity), duration_s: isNum(0, Infinity), volume_db: isNum(-120, 0) }, ["playing", "title", "position_s", "duration_s", "volume_db"]],
  "message": [{ to_role: oneOf("patient", "support"), text: isStr(1000), sealed: orNull(isSealed) }, ["to_role"]],
  "link.state": [{ state: STATE, peer: orNull(isId) }, ["state"]],
  "alert.raised": [{ alert_id: isId, reason: oneOf("link_lost", "help", "checkin_unanswered", "vitals_out_of_range", "go_to_patient", "battery_low", "support_away"), urgent: isBool, for_roles: listOf(ROLE, 3) }, ["alert_id", "reason"]],
  "alert.ack": [{ alert_id: isId }, ["alert_id"]],
  "alert.resolved": [{ alert_id: isId }, ["alert_id"]],
  "ladder.config": [{ go_to_patient_after_s: isNum(10, 120), checkin_answer_s: isNum(20, 300), checkin_escalate_s: isNum(10, 120) }, []],
  "with_patient": [{}, []],
  "vitals": [{ systolic: isInt(0, 300), diastolic: isInt(0, 200), heart_rate: isInt(0, 250), sealed: orNull(isSealed) }, []],
  "session.end": [{}, []],
  "session.clock": [{ started_at: isNum(0, Infinity) }, ["started_at"]],
  "escalation": [{ incident_id: isId, what: oneOf("notified", "failed", "answered", "stopped"),
    who: orNull(oneOf("support", "oncall")), channel: orNull(oneOf("email", "sms", "oncall", "link")),
    round: orNull(isInt(0, 1000)) }, ["incident_id", "what"]],
  "contacts": [{ email: isBool, sms: isBool, by: oneOf("therapist", "support") }, ["by"]],
  "plan": [{
    dose_at: orNull(isNum(0, Infinity)), checkin_every_min: isInt(0, 120),
    vitals_at_min: listOf(isInt(-120, 480), 12), lookin_every_min: isInt(0, 120),
    systolic_max: isInt(90, 250), diastolic_max: isInt(50, 150), heart_rate_max: isInt(50, 200),
    instructions: isStr(2000), emergency_number: isStr(40), playlist: orNull(isSlug), sealed: orNull(isSealed),
  }, []],
  "card": [{
    patient_name: contact, address: contact, taken: contact, medications: contact,
    therapist_contact: contact, prescriber_contact: contact, support_name: contact,
    support_phone: contact, emergency_number: isStr(40), sealed: orNull(isSealed),
  }, []],
  "intention": [{ text: isStr(2000), sealed: orNull(isSealed) }, []],
  "lookin": [{}, []],
  "spoken": [{ line_id: isStr(97), voice: isStr(80) }, ["line_id", "voice"]],
  "computer": [{ what: oneOf("asleep", "on_battery", "battery_low", "plugged_in", "cannot_stay_awake"), asleep_s: orNull(isNum(0, 7 * 86400)), percent: orNull(isInt(0, 100)) }, ["what"]],
  "member.joined": [member, ["member_id", "role"]],
  "member.left": [member, ["member_id", "role"]],
  "member.lost": [member, ["member_id", "role"]],
  "member.back": [member, ["member_id", "role"]],
  "member.refused": [member, ["member_id", "role"]],
};

/** The person-entered words of each sealable kind (sealed through the server). */
export const PRIVATE = {
  "message": ["text"],
  "vitals": ["systolic", "diastolic", "heart_rate"],
  "plan": ["instructions"],
  "card": ["patient_name", "address", "taken", "medications", "therapist_contact",
    "prescriber_contact", "support_name", "support_phone", "emergency_number"],
  "intention": ["text"],
};
const REQUIRED_WORDS = { "message": ["text"], "vitals": PRIVATE.vitals, "intention": ["text"] };
const LOWEST = { systolic: 40, diastolic: 20, heart_rate: 20 };

function exactly(object, fields, required) {
  // Fields this version does not know are ignored (a later app may add optional ones:
  // docs/protocol.md, "Versions"); the known ones are checked strictly.
  for (const [name, value] of Object.entries(object)) {
    if (name in fields && !fields[name](value)) return false;
  }
  return required.every((name) => name in object);
}

/** Only the fields this version knows: what is applied never carries the others. */
export function known(event) {
  const spec = BODIES[event.kind];
  return Object.fromEntries(Object.entries(event).filter(([name]) => name === "kind" || name in spec[0]));
}

/** Is `event` a well-formed body of a known kind (after its words were opened)? */
export function validBody(event) {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return false;
  const spec = BODIES[event.kind];
  if (!spec) return false;
  const { kind, ...rest } = event;
  if (!exactly(rest, spec[0], spec[1])) return false;
  const sealed = rest.sealed !== undefined && rest.sealed !== null;
  const words = PRIVATE[kind] || [];
  if (sealed && words.some((w) => rest[w])) return false; // never both sealed and in clear
  if (!sealed && (REQUIRED_WORDS[kind] || []).some((w) => !rest[w])) return false;
  if (kind === "vitals" && !sealed && Object.entries(LOWEST).some(([w, low]) => rest[w] < low)) return false;
  return true;
}

// -- bytes

const utf8 = new TextEncoder();

export function b64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromB64url(text) {
  const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// -- session keys (identity.py): made fresh for each join, private halves never leave

export async function newIdentity() {
  const sign = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const box = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  return {
    sign, box,
    publicKey: b64url(await crypto.subtle.exportKey("raw", sign.publicKey)),
    boxKey: b64url(await crypto.subtle.exportKey("raw", box.publicKey)),
  };
}

export const PEER_EVENT_CONTEXT = "companion/peer-event/1";

/** What a peer event's signature covers: five lines, no trailing newline. */
export function peerEventInput(sessionId, eventId, fromMember, body) {
  return utf8.encode([PEER_EVENT_CONTEXT, sessionId, eventId, fromMember, body].join("\n"));
}

export async function signBytes(identity, data) {
  return b64url(await crypto.subtle.sign({ name: "Ed25519" }, identity.sign.privateKey, data));
}

/** True only for a well-formed key and a signature by it over exactly `data`. */
export async function verifyBytes(publicKey, data, signature) {
  try {
    const key = await crypto.subtle.importKey("raw", fromB64url(publicKey), { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, fromB64url(signature), data);
  } catch (_error) {
    return false;
  }
}

// -- sealed words (sealing.py)

const SEAL_CONTEXT = "companion/sealed/1";
const KEK_INFO = utf8.encode("companion/sealed/1 key");
const ZERO_NONCE = new Uint8Array(12);

export function sealedAad(sessionId, eventId, kind) {
  return utf8.encode([SEAL_CONTEXT, sessionId, eventId, kind].join("\n"));
}

async function kek(shared, eph, recipient, usage) {
  const base = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: concat(KEK_INFO, eph, recipient) }, base, 256);
  return crypto.subtle.importKey("raw", bits, "AES-GCM", false, [usage]);
}

async function x25519(privateKey, publicRaw) {
  const peer = await crypto.subtle.importKey("raw", publicRaw, { name: "X25519" }, false, []);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: peer }, privateKey, 256));
}

/** The words, if they were sealed for this member and nothing was changed; else null. */
export async function openWords(sealed, memberId, identity, aad) {
  const mine = sealed.keys.find((k) => k.member_id === memberId);
  if (!mine) return null;
  try {
    const eph = fromB64url(sealed.eph);
    const box = fromB64url(identity.boxKey);
    const wrap = await kek(await x25519(identity.box.privateKey, eph), eph, box, "decrypt");
    const contentKey = await crypto.subtle.decrypt({ name: "AES-GCM", iv: ZERO_NONCE, additionalData: aad }, wrap, fromB64url(mine.key));
    const key = await crypto.subtle.importKey("raw", contentKey, "AES-GCM", false, ["decrypt"]);
    const text = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromB64url(sealed.nonce), additionalData: aad }, key, fromB64url(sealed.ct));
    const words = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(text));
    return words !== null && typeof words === "object" && !Array.isArray(words) ? words : null;
  } catch (_error) {
    return null;
  }
}

/** Encrypt `words` for `recipients` (member id -> box key). */
export async function sealWords(words, recipients, aad) {
  const contentKey = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const key = await crypto.subtle.importKey("raw", contentKey, "AES-GCM", false, ["encrypt"]);
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, utf8.encode(JSON.stringify(words)));
  const eph = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const ephRaw = new Uint8Array(await crypto.subtle.exportKey("raw", eph.publicKey));
  const keys = [];
  for (const [memberId, boxKey] of Object.entries(recipients)) {
    const recipient = fromB64url(boxKey);
    const wrap = await kek(await x25519(eph.privateKey, recipient), ephRaw, recipient, "encrypt");
    const wrapped = await crypto.subtle.encrypt({ name: "AES-GCM", iv: ZERO_NONCE, additionalData: aad }, wrap, contentKey);
    keys.push({ member_id: memberId, key: b64url(wrapped) });
  }
  return { eph: b64url(ephRaw), nonce: b64url(nonce), ct: b64url(ct), keys };
}

/** The event with its words back in (as is when it has none); null if they cannot be opened. */
export async function openEvent(event, memberId, identity, sessionId, eventId) {
  if (event.sealed === undefined || event.sealed === null) return event;
  const words = await openWords(event.sealed, memberId, identity, sealedAad(sessionId, eventId, event.kind));
  const allowed = PRIVATE[event.kind] || [];
  if (words === null || !Object.keys(words).every((w) => allowed.includes(w))) return null;
  const { sealed: _sealed, ...rest } = event;
  const opened = { ...rest, ...words };
  return validBody(opened) ? opened : null;
}

/** The server's copy of `event`: its words sealed for `recipients` (none: as is). */
export async function sealEvent(event, recipients, sessionId, eventId) {
  const fields = PRIVATE[event.kind];
  if (!fields || !fields.some((f) => event[f])) return event;
  const words = {};
  const cleared = { ...event };
  for (const f of fields) {
    words[f] = event[f];
    cleared[f] = typeof event[f] === "number" ? 0 : "";
  }
  cleared.sealed = await sealWords(words, recipients, sealedAad(sessionId, eventId, event.kind));
  return cleared;
}
