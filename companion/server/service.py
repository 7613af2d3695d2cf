"""The signaling handlers: what each client message does to the session state.

Handlers see a ``ClientConnection`` (who is asking, where to answer) and a ``SessionStore``
(shared state and fan-out). They raise ``ProtocolError`` for anything refused; the caller
turns that into an ``error`` message. Nothing here touches sockets or raw JSON.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from companion.protocol import authority
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.messages import (
    OLDEST_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    CreateInvite,
    CreateSession,
    EventAck,
    EventBody,
    InviteCreated,
    InviteInfo,
    Join,
    Joined,
    Leave,
    ListSessions,
    Login,
    LoginOk,
    MemberChange,
    MemberInfo,
    Ok,
    PeerSignal,
    Ping,
    Presence,
    RelayedSignal,
    Resume,
    RevokeInvite,
    Role,
    SendEvent,
    SessionCreated,
    SessionEvent,
    SessionInfo,
    Sessions,
    SetContacts,
    SetLanguage,
)
from companion.server.clinicdb import ClinicDB, InviteRecord, SessionRecord, Therapist
from companion.server.codeguard import CodeGuard
from companion.server.connection import CLOSE_REPLACED, ClientConnection
from companion.server.ice import IceConfig, ice_servers_for
from companion.server.ratelimit import LoginLimiter
from companion.server.store import MemberRecord, SessionStore, StoreUnavailable
from companion.server.tokens import (
    TokenSigner,
    format_code,
    hash_resume_token,
    looks_like_token,
    new_id,
    new_short_code,
    normalize_code,
)
from companion.server.webboard import board_link
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)

ACCESS_TOKEN_TTL_S = 12 * 3600
Step = Callable[[], Awaitable[None]]
EventObserver = Callable[[str, EventBody, Role | None, str | None], None]
LATER_RETRY_S = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
"""What could not be written while the shared store was away (a member lost, an arrival
announced) is retried after these pauses: about two minutes in all."""


@dataclass
class ServiceOptions:
    public_url: str
    """The WebSocket URL clients use, written into invite links."""
    ice: IceConfig = field(default_factory=IceConfig)
    logins: LoginLimiter = field(default_factory=LoginLimiter)
    on_event: EventObserver | None = None
    """Told of every event stored (not duplicates): the outer ladder (escalation.py)."""
    set_contacts: Callable[[ClientConnection, SetContacts], Awaitable[None]] | None = None
    """Keeps a session's contacts for the outer ladder; None: this server sends no messages."""
    language_said: Callable[[MemberRecord, str], Awaitable[None]] | None = None
    """Told each language a member gives (``join``, ``set_language``): the outer ladder
    writes to the support person in the latest."""


class SignalingService:
    def __init__(
        self, store: SessionStore, db: ClinicDB, signer: TokenSigner, options: ServiceOptions
    ) -> None:
        self.store = store
        self.db = db
        self.signer = signer
        self.options = options
        # Connections on this node by member id, to hand a place over on resume.
        self._local: dict[str, ClientConnection] = {}
        self._background = TaskSet()
        self._closing = False
        self.codes = CodeGuard(store)
        # The clinic database and its scrypt hashing on two threads of their own: SQLite
        # serializes anyway, and every extra thread running scrypt (16 MB of work memory)
        # would keep a malloc arena of that size for good.
        self.db_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="clinic-db")
        self._handlers: dict[type[Any], Callable[[ClientConnection, Any], Awaitable[None]]] = {
            Login: self._login,
            CreateSession: self._create_session,
            ListSessions: self._list_sessions,
            CreateInvite: self._create_invite,
            RevokeInvite: self._revoke_invite,
            Join: self._join,
            Resume: self._resume,
            PeerSignal: self._signal,
            SendEvent: self._event,
            Leave: self._leave,
            Ping: self._ping,
            SetContacts: self._set_contacts,
            SetLanguage: self._set_language,
        }

    async def handle(self, conn: ClientConnection, message: Any) -> None:
        if getattr(message, "protocol", PROTOCOL_VERSION) < OLDEST_PROTOCOL_VERSION:
            raise ProtocolError(ErrorCode.UNSUPPORTED_PROTOCOL)
        standing = authority.CLIENT_MESSAGES[message.type]
        if standing == "therapist":
            self._require_therapist(conn)
        elif standing == "member":
            self._joined(conn)
        await self._handlers[type(message)](conn, message)

    async def _in_executor(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.db_executor, fn)

    async def _audit(
        self, actor: str, action: str, kind: str, object_id: str, session_id: str | None
    ) -> None:
        await self._in_executor(lambda: self.db.audit(actor, action, kind, object_id, session_id))

    def _failed_auth(self, conn: ClientConnection, code: ErrorCode) -> ProtocolError:
        conn.failed_auth += 1
        if conn.failed_auth >= conn.limits.max_failed_auth:
            return ProtocolError(ErrorCode.TOO_MANY_ATTEMPTS, fatal=True)
        return ProtocolError(code)

    # -- therapist account

    async def _login(self, conn: ClientConnection, msg: Login) -> None:
        if (msg.secret is None) == (msg.access_token is None):
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE, "Give either a secret or an access token."
            )
        therapist: Therapist | None
        if msg.secret is not None:
            secret = msg.secret
            # scrypt is costly: limited per address and per account before it runs.
            async with self.options.logins.attempt(conn.remote, msg.therapist) as wrong:
                therapist = await self._in_executor(
                    lambda: self.db.check_therapist(msg.therapist, secret)
                )
                if therapist is None:
                    wrong()
                    raise self._failed_auth(conn, ErrorCode.BAD_CREDENTIALS)
        else:
            assert msg.access_token is not None
            try:
                claims = self.signer.verify_access(msg.access_token)
            except ProtocolError as exc:
                raise self._failed_auth(conn, exc.code) from exc
            therapist = await self._in_executor(lambda: self.db.therapist(claims.therapist_id))
            if therapist is None or therapist.name != msg.therapist:
                raise self._failed_auth(conn, ErrorCode.BAD_CREDENTIALS)
        conn.therapist = therapist
        expires_at = time.time() + ACCESS_TOKEN_TTL_S
        token = self.signer.issue_access(therapist.therapist_id, expires_at)
        await self._audit(
            therapist.therapist_id, "login", "therapist", therapist.therapist_id, None
        )
        _log.info("therapist %s signed in on %s", therapist.therapist_id, conn.conn_id)
        conn.send(
            LoginOk(
                rid=msg.rid,
                therapist_id=therapist.therapist_id,
                access_token=token,
                expires_at=expires_at,
            ).model_dump_json()
        )

    def _require_therapist(self, conn: ClientConnection) -> Therapist:
        if conn.therapist is None:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
        return conn.therapist

    async def _owned_session(self, conn: ClientConnection, session_id: str) -> SessionRecord:
        therapist = self._require_therapist(conn)
        session = await self.store.get_session(session_id)
        if session is None:
            raise ProtocolError(ErrorCode.SESSION_UNKNOWN)
        if session.therapist_id != therapist.therapist_id:
            raise ProtocolError(ErrorCode.FORBIDDEN)
        if session.ended:
            raise ProtocolError(ErrorCode.SESSION_ENDED)
        return session

    async def _session_info(self, session: SessionRecord) -> SessionInfo:
        return SessionInfo(
            session_id=session.session_id,
            label=session.label,
            created_at=session.created_at,
            ended=session.ended,
            members=self._member_infos(await self.store.members(session.session_id)),
            relay_only=session.relay_only,
        )

    async def new_invite(self, session_id: str, role: str, ttl_s: int) -> InviteInfo:
        code = new_short_code()
        invite = InviteRecord(
            invite_id=new_id(),
            session_id=session_id,
            role=role,
            code_hash=self.signer.keyed_hash(code),
            expires_at=time.time() + ttl_s,
        )
        await self.store.save_invite(invite)
        token = self.signer.issue_invite(invite.invite_id, session_id, role, invite.expires_at)
        link = "companion://join?" + urlencode(
            {"server": self.options.public_url, "role": role, "invite": token}
        )
        return InviteInfo(
            invite_id=invite.invite_id,
            session_id=session_id,
            role=role,  # type: ignore[arg-type]
            token=token,
            code=format_code(code),
            link=link,
            web_link=board_link(self.options.public_url, token) if role == "support" else None,
            expires_at=invite.expires_at,
        )

    async def _create_session(self, conn: ClientConnection, msg: CreateSession) -> None:
        therapist = self._require_therapist(conn)
        ice = self.options.ice
        if msg.relay_only and not (ice.turn_urls and ice.turn_secret):
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE,
                "relay_only: this server has no TURN relay (--turn, --turn-secret-file).",
            )
        session = SessionRecord(
            new_id(), therapist.therapist_id, msg.label, time.time(), relay_only=msg.relay_only
        )
        await self.store.create_session(session)
        invites = [
            await self.new_invite(session.session_id, role, msg.invite_ttl_s)
            for role in ("patient", "support")
        ]
        await self._audit(
            therapist.therapist_id, "create", "session", session.session_id, session.session_id
        )
        conn.send(
            SessionCreated(
                rid=msg.rid, session=await self._session_info(session), invites=invites
            ).model_dump_json()
        )

    async def _list_sessions(self, conn: ClientConnection, msg: ListSessions) -> None:
        therapist = self._require_therapist(conn)
        sessions = [
            await self._session_info(s)
            for s in await self.store.sessions_of(therapist.therapist_id)
        ]
        conn.send(Sessions(rid=msg.rid, sessions=sessions).model_dump_json())

    async def _create_invite(self, conn: ClientConnection, msg: CreateInvite) -> None:
        session = await self._owned_session(conn, msg.session_id)
        invite = await self.new_invite(session.session_id, msg.role, msg.ttl_s)
        assert conn.therapist is not None
        await self._audit(
            conn.therapist.therapist_id, "create", "invite", invite.invite_id, session.session_id
        )
        conn.send(InviteCreated(rid=msg.rid, invite=invite).model_dump_json())

    async def _revoke_invite(self, conn: ClientConnection, msg: RevokeInvite) -> None:
        self._require_therapist(conn)
        invite = await self.store.get_invite(msg.invite_id)
        if invite is None:
            raise ProtocolError(ErrorCode.INVITE_UNKNOWN)
        await self._owned_session(conn, invite.session_id)
        await self.store.revoke_invite(invite.invite_id)
        assert conn.therapist is not None
        await self._audit(
            conn.therapist.therapist_id, "revoke", "invite", invite.invite_id, invite.session_id
        )
        # Whoever is in the session with it now is let go too.
        for member in await self.store.members(invite.session_id):
            holder = self._local.get(member.member_id)
            if member.invite_id == invite.invite_id and holder is not None:
                holder.send_error(ProtocolError(ErrorCode.TOKEN_REVOKED, fatal=True))
        conn.send(Ok(rid=msg.rid).model_dump_json())

    # -- joining

    async def _invite_for(self, conn: ClientConnection, text: str) -> InviteRecord:
        invite: InviteRecord | None
        try:
            if looks_like_token(text):
                claims = self.signer.verify_invite(text)
                invite = await self.store.get_invite(claims.invite_id)
                if invite is None or (invite.session_id, invite.role) != (
                    claims.session_id,
                    claims.role,
                ):
                    raise ProtocolError(ErrorCode.TOKEN_INVALID)
            else:
                # Limited per address and server-wide, across connections and nodes.
                await self.codes.check(conn.remote)
                invite = await self.store.invite_by_code(
                    self.signer.keyed_hash(normalize_code(text))
                )
                if invite is None:
                    await self.codes.missed(conn.remote)
                    raise ProtocolError(ErrorCode.CODE_UNKNOWN)
        except ProtocolError as exc:
            if exc.fatal:
                raise
            raise self._failed_auth(conn, exc.code) from exc
        if time.time() >= invite.expires_at:
            raise ProtocolError(ErrorCode.TOKEN_EXPIRED)
        if invite.revoked:
            raise ProtocolError(ErrorCode.TOKEN_REVOKED)
        return invite

    async def _join(self, conn: ClientConnection, msg: Join) -> None:
        if conn.member is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED)
        if (msg.invite is None) == (msg.session_id is None):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "Give either an invite or a session id.")
        role: Role
        invite_id: str | None = None
        therapist_id: str | None = None
        invite: InviteRecord | None = None
        if msg.invite is not None:
            invite = await self._invite_for(conn, msg.invite)
            if msg.as_role is not None and msg.as_role != invite.role:
                await self.codes.refused(invite.invite_id, invite.expires_at - time.time())
                raise ProtocolError(ErrorCode.WRONG_ROLE)
            session = await self.store.get_session(invite.session_id)
            if session is None:
                raise ProtocolError(ErrorCode.SESSION_UNKNOWN)
            if session.ended:
                raise ProtocolError(ErrorCode.SESSION_ENDED)
            role, invite_id = invite.role, invite.invite_id  # type: ignore[assignment]
        else:
            assert msg.session_id is not None
            session = await self._owned_session(conn, msg.session_id)
            role, therapist_id = "therapist", session.therapist_id

        seat = (invite_id, therapist_id)
        members = await self.store.members(session.session_id)
        # The newest holder of this place (another device after a leave is a new member).
        existing = next(
            (m for m in reversed(members) if (m.invite_id, m.therapist_id) == seat), None
        )
        device_hash = self.signer.keyed_hash(msg.device) if msg.device else ""
        if invite is not None:
            same_device = (
                existing is not None and device_hash != "" and existing.device_hash == device_hash
            )
            if not same_device and msg.invite is not None and not looks_like_token(msg.invite):
                # A locked code still lets its own device back in (after a crash), no other.
                await self.codes.check_code(invite.invite_id)
            if existing is not None and not same_device and existing.status != "left":
                await self._refuse_device(conn, invite, existing)
            if not same_device:
                existing = None  # the first device left: this one joins as someone new
        if existing is not None and existing.status == "online":
            raise ProtocolError(ErrorCode.INVITE_IN_USE)
        resume_token = new_id(24)
        member = MemberRecord(
            member_id=existing.member_id if existing else new_id(),
            session_id=session.session_id,
            role=role,
            resume_hash=hash_resume_token(resume_token),
            status="online",
            invite_id=invite_id,
            therapist_id=therapist_id,
            epoch=existing.epoch + 1 if existing else 1,
            device_hash=device_hash if invite is not None else "",
            public_key=msg.public_key,
            box_key=msg.box_key,
            language=msg.language,
        )
        # Its own place back (a lost resume token): what it missed follows, as on resume.
        after_seq = msg.last_seq if existing is not None and invite is not None else None
        await self._admit(
            conn, member, resume_token, msg.rid, after_seq=after_seq, relay_only=session.relay_only
        )
        actor = therapist_id or f"invite:{invite_id}"
        await self._audit(actor, "join", "member", member.member_id, session.session_id)
        # Seated and told so: the others' news must not turn into an error for this join.
        kind = "member.back" if existing else "member.joined"
        await self._announce(member, kind)
        if msg.language is not None and self.options.language_said is not None:
            try:
                await self.options.language_said(member, msg.language)
            except Exception:  # the join stands; the messages fall back to the join's record
                _log.warning("language of %s not kept", member.member_id)

    async def _refuse_device(
        self, conn: ClientConnection, invite: InviteRecord, holder: MemberRecord
    ) -> None:
        """Another device presents an invite whose first device can still resume: kept
        out, and the session is told in plain words (the first refusals of an invite; its
        code locks after ``CodeLimits.code_refusals``)."""
        await self.codes.refused(invite.invite_id, invite.expires_at - time.time())
        if await self.codes.refusals(invite.invite_id) <= self.codes.limits.code_refusals:
            refusal = functools.partial(
                self._member_change, holder, "member.refused", str(uuid.uuid4())
            )
            await self._now_or_later(f"refusal for {holder.member_id}", refusal)
        _log.info(
            "join as %s refused on %s: another device holds it", holder.member_id, conn.conn_id
        )
        raise self._failed_auth(conn, ErrorCode.DEVICE_BOUND)

    async def _resume(self, conn: ClientConnection, msg: Resume) -> None:
        if conn.member is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED)
        resume_hash = hash_resume_token(msg.resume_token)
        target = await self.store.resume_target(resume_hash)
        # Only the newest token of a member is live: every join and resume issues a new one
        # and the older ones die with it, so a copy of one cannot unseat the holder later.
        if (
            target is None
            or target.member.status == "left"
            or (target.member.resume_hash != resume_hash)
        ):
            raise self._failed_auth(conn, ErrorCode.RESUME_INVALID)
        old, session = target.member, target.session
        if session is None or session.ended:
            raise ProtocolError(ErrorCode.SESSION_ENDED)
        if old.invite_id is not None and (target.invite is None or target.invite.revoked):
            raise ProtocolError(ErrorCode.TOKEN_REVOKED)
        # The old connection may not be known dead yet (≤ 3 s); the newer one wins.
        previous = self._local.get(old.member_id)
        if previous is not None and previous is not conn:
            self._detach(previous)
            previous.finish(CLOSE_REPLACED, "replaced")
        resume_token = new_id(24)
        member = replace(
            old, resume_hash=hash_resume_token(resume_token), status="online", epoch=old.epoch + 1
        )
        members = await self._admit(
            conn,
            member,
            resume_token,
            msg.rid,
            after_seq=msg.last_seq,
            relay_only=session.relay_only,
        )
        if old.status == "lost":
            await self._announce(member, "member.back")
        else:  # its node died unnoticed: the list just read is the news (one read less)
            await self._announce(member, None, members)

    async def _admit(
        self,
        conn: ClientConnection,
        member: MemberRecord,
        resume_token: str,
        rid: str | None,
        after_seq: int | None,
        relay_only: bool = False,
    ) -> list[MemberRecord]:
        """Seat ``conn`` as ``member``: subscribe, answer ``joined``, replay what was missed.
        Returns the session's members as read for ``joined``."""
        conn.member = member
        self._local[member.member_id] = conn
        # Subscribed before the seat is taken and the timeline read: nothing published
        # after that read can pass this connection by.
        conn.hold_live()
        try:
            subscriptions = conn.subscriptions  # each one kept at once, to be undone below
            readable = functools.partial(self._deliver_readable, conn.deliver_live, member.role)
            subscriptions.append(await self.store.subscribe_session(member.session_id, readable))
            subscriptions.append(await self.store.subscribe_member(member.member_id, conn.send))
            seating = await self.store.seat(member, after_seq)
        except BaseException:
            # Not seated: the client may try again on this connection. The seat may have
            # been written before the store gave way (a reply that timed out): give it back,
            # or the invite would stay "in use" with no one on it.
            self._detach(conn)
            conn.drop_held()
            give_back = functools.partial(
                self._mark_lost, member, "seat not taken", str(uuid.uuid4())
            )
            self._later(f"mark {member.member_id} lost", give_back)
            raise
        last_seq, members = seating.last_seq, seating.members
        conn.send(
            Joined(
                rid=rid,
                session_id=member.session_id,
                member_id=member.member_id,
                role=member.role,
                resume_token=resume_token,
                last_seq=last_seq,
                resumed=after_seq is not None,
                members=self._member_infos(members),
                ice_servers=ice_servers_for(self.options.ice, member.member_id),
                ice_transport_policy="relay" if relay_only else "all",
            ).model_dump_json()
        )
        replayed_up_to = last_seq if after_seq is None else after_seq
        for stored in seating.missed:
            self._deliver_readable(conn.send, member.role, stored.payload)
            replayed_up_to = stored.seq
        conn.release_live(replayed_up_to)
        _log.info(
            "member %s (%s) seated on %s, epoch %d",
            member.member_id,
            member.role,
            conn.conn_id,
            member.epoch,
        )
        return members

    @staticmethod
    def _deliver_readable(deliver: Callable[[str], None], role: Role, payload: str) -> None:
        """Fan-out and replay give a member only the events its role may read (the table's
        readers): the patient's intention is not the support person's, nor the therapist's
        message to the support person the patient's."""
        if payload.startswith('{"type":"event"'):
            event = json.loads(payload).get("event", {})
            if role not in authority.readers_of(event.get("kind", ""), event.get("to_role")):
                return
        deliver(payload)

    def _detach(self, conn: ClientConnection) -> None:
        for unsubscribe in conn.subscriptions:
            unsubscribe()
        conn.subscriptions = []
        if conn.member is not None and self._local.get(conn.member.member_id) is conn:
            del self._local[conn.member.member_id]
        conn.member = None

    async def connection_closed(self, conn: ClientConnection) -> None:
        """The socket is gone: the member is *lost* (not left) until it resumes."""
        member = conn.member
        self._detach(conn)
        if member is None:
            return
        # If the store is away now, later: else it would stay "online" with no one on it.
        mark = functools.partial(
            self._mark_lost, member, conn.close_reason or "closed", str(uuid.uuid4())
        )
        await self._now_or_later(f"mark {member.member_id} lost", mark)

    async def _seating(self, member: MemberRecord) -> MemberRecord | None:
        """The member's record if it is still this seating (each has its own resume hash):
        a step retried after the store was away must not touch a newer one."""
        current = await self.store.get_member(member.member_id)
        return (
            current if current is not None and current.resume_hash == member.resume_hash else None
        )

    async def _announce(
        self, member: MemberRecord, kind: str | None, members: list[MemberRecord] | None = None
    ) -> None:
        """Tell the session ``member`` is here: ``kind`` on its timeline, or (None) only the
        presence, from ``members`` as read when seated. The join stands if the store is away
        now: the news goes out once it is back, if that seating still holds."""
        event_id = str(uuid.uuid4())

        async def tell(members: list[MemberRecord] | None) -> None:
            if kind is None:
                await self._publish_presence(member.session_id, members)
            else:
                await self._member_change(member, kind, event_id)

        async def later() -> None:
            current = await self._seating(member)
            if current is not None and current.status == "online":  # not gone or back since
                await tell(None)  # presence: a fresh read

        await self._now_or_later(
            f"announce {member.member_id}", functools.partial(tell, members), later
        )

    async def _mark_lost(self, member: MemberRecord, reason: str, event_id: str) -> None:
        current = await self._seating(member)
        if current is None or current.status == "left":
            return  # already back on a newer connection, left on purpose, or never seated
        if current.status == "online":  # (lost already: an earlier try got this far)
            current = current.with_status("lost")
            await self.store.put_member(current)
            _log.info("member %s lost (%s)", member.member_id, reason)
        await self._member_change(current, "member.lost", event_id)

    async def _now_or_later(self, what: str, step: Step, retry: Step | None = None) -> None:
        """``step()`` now or, if the shared store is away, ``retry()`` (else ``step``) once
        it is back."""
        try:
            await step()
        except StoreUnavailable:
            self._later(what, retry or step)

    def _later(self, what: str, step: Step) -> None:
        """Retry ``step()`` in the background until the store answers. Steps must be safe
        to repeat: events keep their id, and each checks its seating still holds."""
        if self._closing:
            _log.warning("%s: not done, the node is stopping", what)
            return

        async def retry() -> None:
            for pause in LATER_RETRY_S:
                await asyncio.sleep(pause)
                try:
                    await step()
                    return
                except StoreUnavailable:
                    continue
                except Exception:
                    _log.exception("%s failed", what)
                    return
            _log.warning("%s: not done, the shared store did not answer", what)

        self._background.spawn(retry(), name=what)

    async def close(self) -> None:
        self._closing = True
        await self._background.cancel_all()
        await asyncio.to_thread(self.db_executor.shutdown, wait=True)

    async def _leave(self, conn: ClientConnection, msg: Leave) -> None:
        member = self._joined(conn)
        left = member.with_status("left")
        await self.store.put_member(left)
        await self._member_change(left, "member.left")
        self._detach(conn)
        conn.send(Ok(rid=msg.rid).model_dump_json())

    async def _ping(self, conn: ClientConnection, msg: Ping) -> None:
        conn.send(Ok(rid=msg.rid).model_dump_json())

    # -- in session

    def _joined(self, conn: ClientConnection, session_id: str | None = None) -> MemberRecord:
        if conn.member is None:
            raise ProtocolError(ErrorCode.NOT_JOINED)
        if session_id is not None and session_id != conn.member.session_id:
            raise ProtocolError(ErrorCode.WRONG_SESSION)
        return conn.member

    async def _signal(self, conn: ClientConnection, msg: PeerSignal) -> None:
        member = self._joined(conn, msg.session_id)
        target = await self.store.get_member(msg.to)
        if target is None or target.session_id != member.session_id:
            raise ProtocolError(ErrorCode.WRONG_SESSION)
        if not authority.may_signal(msg.pc_id, msg.data.kind, member.role, target.role):
            # Only the session's peer paths (patient-therapist call, patient-support home
            # link), each side only its part: a support seat cannot offer the therapist a call.
            _log.warning(
                "refused a %s signal from %s (%s) to a %s",
                msg.data.kind,
                member.member_id,
                member.role,
                target.role,
            )
            raise ProtocolError(ErrorCode.SIGNAL_FORBIDDEN)
        if target.status != "online":
            raise ProtocolError(ErrorCode.MEMBER_NOT_PRESENT)
        relayed = RelayedSignal(
            session_id=member.session_id,
            from_member=member.member_id,
            pc_id=msg.pc_id,
            data=msg.data,
        )
        await self.store.send_to_member(target.member_id, relayed.model_dump_json())

    async def _event(self, conn: ClientConnection, msg: SendEvent) -> None:
        member = self._joined(conn, msg.session_id)
        if not authority.may_send(member.role, msg.event.kind):
            raise ProtocolError(ErrorCode.EVENT_KIND_FORBIDDEN)
        stored, duplicate = await self._append(
            member.session_id, msg.event_id, msg.event, member.member_id, member.role
        )
        conn.send(
            EventAck(event_id=msg.event_id, seq=stored.seq, duplicate=duplicate).model_dump_json()
        )
        if not duplicate and msg.event.kind == "session.end":
            await self.store.end_session(member.session_id)

    async def _set_language(self, conn: ClientConnection, msg: SetLanguage) -> None:
        member = self._joined(conn)
        if self.options.language_said is not None:
            await self.options.language_said(member, msg.language)
        conn.send(Ok(rid=msg.rid).model_dump_json())

    async def _set_contacts(self, conn: ClientConnection, msg: SetContacts) -> None:
        if self.options.set_contacts is None:
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE, "This server sends no messages outside the apps."
            )
        await self.options.set_contacts(conn, msg)

    async def append_server_event(self, session_id: str, event: EventBody) -> None:
        """An event the server writes itself (``from_role`` None) on the session's timeline."""
        await self._append(session_id, str(uuid.uuid4()), event, None, None)

    async def _append(
        self,
        session_id: str,
        event_id: str,
        event: EventBody,
        from_member: str | None,
        from_role: Role | None,
    ) -> tuple[Any, bool]:
        def render(seq: int) -> str:
            return SessionEvent(
                session_id=session_id,
                seq=seq,
                event_id=event_id,
                from_member=from_member,
                from_role=from_role,
                at=time.time(),
                event=event,
            ).model_dump_json()

        stored, duplicate = await self.store.append_event(session_id, event_id, render)
        if not duplicate and self.options.on_event is not None:
            self.options.on_event(session_id, event, from_role, from_member)
        return stored, duplicate

    async def _member_change(
        self, member: MemberRecord, kind: str, event_id: str | None = None
    ) -> None:
        change = MemberChange(kind=kind, member_id=member.member_id, role=member.role)  # type: ignore[arg-type]
        await self._append(member.session_id, event_id or str(uuid.uuid4()), change, None, None)
        await self._publish_presence(member.session_id)

    @staticmethod
    def _member_infos(members: list[MemberRecord]) -> list[MemberInfo]:
        return [
            MemberInfo(
                member_id=m.member_id,
                role=m.role,
                status=m.status,
                public_key=m.public_key,
                box_key=m.box_key,
            )
            for m in members
        ]

    async def _publish_presence(
        self, session_id: str, members: list[MemberRecord] | None = None
    ) -> None:
        if members is None:
            members = await self.store.members(session_id)
        infos = self._member_infos(members)
        await self.store.publish(
            session_id, Presence(session_id=session_id, members=infos).model_dump_json()
        )
