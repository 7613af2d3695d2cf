"""Every error the signaling protocol can report, in one place.

Codes are stable strings: clients branch on them, people read the message. A code never
changes meaning; new failures get new codes.
"""

from __future__ import annotations

from enum import StrEnum

from companion.i18n import N_


class ErrorCode(StrEnum):
    # Frame and message shape
    BAD_JSON = "bad_json"
    BAD_UTF8 = "bad_utf8"
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    RATE_LIMITED = "rate_limited"
    SLOW_CONSUMER = "slow_consumer"
    # Who you are
    NOT_AUTHENTICATED = "not_authenticated"
    BAD_CREDENTIALS = "bad_credentials"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    CODE_UNKNOWN = "code_unknown"
    CODE_LOCKED = "code_locked"
    DEVICE_BOUND = "device_bound"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    WRONG_ROLE = "wrong_role"
    WRONG_SESSION = "wrong_session"
    FORBIDDEN = "forbidden"
    # Where you are
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    INVITE_IN_USE = "invite_in_use"
    RESUME_INVALID = "resume_invalid"
    SESSION_UNKNOWN = "session_unknown"
    SESSION_ENDED = "session_ended"
    INVITE_UNKNOWN = "invite_unknown"
    MEMBER_NOT_PRESENT = "member_not_present"
    EVENT_KIND_FORBIDDEN = "event_kind_forbidden"
    SIGNAL_FORBIDDEN = "signal_forbidden"
    # The server
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"


# Plain sentences for each code. They go to the client; they never echo the client's input.
# On the wire in English; each app shows them in its person's language (app/words.py).
ERROR_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.BAD_JSON: N_("The message is not valid JSON."),
    ErrorCode.BAD_UTF8: N_("The text frame is not valid UTF-8."),
    ErrorCode.BINARY_NOT_SUPPORTED: N_(
        "Binary frames are not part of this protocol; send JSON text."
    ),
    ErrorCode.UNKNOWN_TYPE: N_("The message type is not known to this server."),
    ErrorCode.INVALID_MESSAGE: N_("A field is missing or has the wrong type or size."),
    ErrorCode.UNSUPPORTED_PROTOCOL: N_("This protocol version is older than the server serves."),
    ErrorCode.RATE_LIMITED: N_("Too many messages; slow down."),
    ErrorCode.SLOW_CONSUMER: N_("The connection did not read its messages in time."),
    ErrorCode.NOT_AUTHENTICATED: N_("Sign in or join a session first."),
    ErrorCode.BAD_CREDENTIALS: N_("The name or secret is not right."),
    ErrorCode.TOKEN_INVALID: N_("This link or token is not valid."),
    ErrorCode.TOKEN_EXPIRED: N_("This invitation has expired. Ask your therapist for a new one."),
    ErrorCode.TOKEN_REVOKED: N_("This invitation was withdrawn. Ask your therapist for a new one."),
    ErrorCode.CODE_UNKNOWN: N_("That code was not found. Check it and try again."),
    ErrorCode.CODE_LOCKED: N_(
        "This code was tried too many times and is now locked. Ask your therapist for a new one."
    ),
    ErrorCode.DEVICE_BOUND: N_(
        "This invitation is already in use on another device. To switch devices, ask your therapist for a new one."
    ),
    ErrorCode.TOO_MANY_ATTEMPTS: N_("Too many wrong tries. Wait a minute, then try again."),
    ErrorCode.WRONG_ROLE: N_("This invitation is for a different role."),
    ErrorCode.WRONG_SESSION: N_("That belongs to a different session."),
    ErrorCode.FORBIDDEN: N_("You are not allowed to do that."),
    ErrorCode.NOT_JOINED: N_("Join a session first."),
    ErrorCode.ALREADY_JOINED: N_("This connection has already joined a session."),
    ErrorCode.INVITE_IN_USE: N_("Someone is already connected with this invitation."),
    ErrorCode.RESUME_INVALID: N_(
        "That session place cannot be resumed; join again with your invitation."
    ),
    ErrorCode.SESSION_UNKNOWN: N_("That session does not exist."),
    ErrorCode.SESSION_ENDED: N_("That session has ended."),
    ErrorCode.INVITE_UNKNOWN: N_("That invitation does not exist."),
    ErrorCode.MEMBER_NOT_PRESENT: N_("That person is not connected right now."),
    ErrorCode.EVENT_KIND_FORBIDDEN: N_("Your role cannot send that kind of event."),
    ErrorCode.SIGNAL_FORBIDDEN: N_("Your role has no peer connection with that member."),
    ErrorCode.UNAVAILABLE: N_("The server cannot take that request right now; try again shortly."),
    ErrorCode.INTERNAL_ERROR: N_("Something went wrong on the server; the session is unaffected."),
}


class ProtocolError(Exception):
    """A request that the server refuses with a stable code."""

    def __init__(self, code: ErrorCode, message: str | None = None, *, fatal: bool = False) -> None:
        self.code = code
        self.message = message or ERROR_MESSAGES[code]
        self.fatal = fatal
        super().__init__(f"{code}: {self.message}")
