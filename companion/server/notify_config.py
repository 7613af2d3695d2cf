"""The clinic's notification settings (``companion server --notify-config FILE``), TOML::

    link_base = "https://companion.clinic.example"   # where phones open acknowledge links
                                                      # (default: the server's public origin)
    [secrets]                  # name = file holding it; used as {name} in the URLs below
    smtp = "/etc/companion/smtp-password"

    [channels]                 # how a support contact is reached, by kind; {to} = the contact
    email = "mailtos://companion:{smtp}@mail.clinic.example?from=companion@clinic.example&to={to}"
    sms = "json://sms-gateway.clinic.example/send?to={to}"

    [oncall]                   # the clinic's on-call, the last step: complete Apprise URLs
    urls = ["ntfys://ntfy.clinic.example/oncall-{ntfy}"]

    [ladder]                   # optional; clamped (see outer_ladder.EscalationTimings)
    after_s = 30
    repeat_s = 120
    oncall_after_s = 300

Secrets live in files (mode 0600 is the clinic's business), never on the command line, and
the URLs they are put into are never logged: log lines name a channel kind only.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from companion.server.outer_ladder import EscalationTimings

ContactKind = str
"""``email`` or ``sms`` (the keys of ``[channels]``)."""
CONTACT_KINDS = ("email", "sms")


class NotifyConfigError(ValueError):
    """The file is wrong; the message names the key, never a secret's value."""


@dataclass(frozen=True)
class NotifyConfig:
    channels: dict[ContactKind, str] = field(default_factory=dict)
    """Apprise URL templates with the secrets already in, ``{to}`` left to fill."""
    oncall: tuple[str, ...] = ()
    timings: EscalationTimings = field(default_factory=EscalationTimings)
    link_base: str | None = None

    def url_for(self, kind: ContactKind, address: str) -> str | None:
        template = self.channels.get(kind)
        return None if template is None else template.replace("{to}", _quote(address))

    @classmethod
    def load(cls, path: Path) -> NotifyConfig:
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise NotifyConfigError(f"{path}: {exc}") from exc
        secrets: dict[str, str] = {}
        for name, file in dict(raw.get("secrets", {})).items():
            try:
                secrets[name] = Path(file).read_text().strip()
            except OSError as exc:
                raise NotifyConfigError(f"secrets.{name}: cannot read its file") from exc
        channels: dict[str, str] = {}
        for kind, template in dict(raw.get("channels", {})).items():
            if kind not in CONTACT_KINDS:
                raise NotifyConfigError(f"channels.{kind}: one of {', '.join(CONTACT_KINDS)}")
            if "{to}" not in template:
                raise NotifyConfigError(f"channels.{kind}: needs {{to}}")
            channels[kind] = _fill(f"channels.{kind}", template, secrets)
        oncall = tuple(
            _fill("oncall.urls", url, secrets) for url in raw.get("oncall", {}).get("urls", [])
        )
        ladder = dict(raw.get("ladder", {}))
        unknown = set(ladder) - {"after_s", "repeat_s", "oncall_after_s"}
        if unknown:
            raise NotifyConfigError(f"ladder: unknown {', '.join(sorted(unknown))}")
        timings = EscalationTimings(**{k: float(v) for k, v in ladder.items()}).clamped()
        return cls(channels, oncall, timings, raw.get("link_base"))


def _fill(where: str, template: str, secrets: dict[str, str]) -> str:
    """Put the named secrets in (``{name}``), keeping ``{to}`` for later."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    missing = names - set(secrets) - {"to"}
    if missing:
        raise NotifyConfigError(f"{where}: no secret named {', '.join(sorted(missing))}")
    for name in names - {"to"}:
        template = template.replace("{" + name + "}", _quote(secrets[name]))
    return template


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="@")
