"""The verdicts of the self-tests and the report a person reads."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

from companion.i18n import N_, _


class Verdict(StrEnum):
    """Ids (the JSON report's); ``VERDICT_WORDS`` says them to a person."""

    OK = "ok"
    NOT_FOUND = "not found"  # i18n: not words (an id)
    FAILED = "failed"
    NOT_CONFIGURED = "not configured"  # i18n: not words (an id)


VERDICT_WORDS: dict[Verdict, str] = {
    Verdict.OK: N_("ok"),
    Verdict.NOT_FOUND: N_("not found"),
    Verdict.FAILED: N_("failed"),
    Verdict.NOT_CONFIGURED: N_("not configured"),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    """What was checked, for a person: "Camera", "Clinic server"."""
    verdict: Verdict
    detail: str
    """What we saw, in one plain sentence."""
    advice: str = ""
    """What to do about it (empty when there is nothing to do)."""

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAILED


_NAME_WIDTH = 15
_VERDICT_WIDTH = 15


def format_result(result: CheckResult, width: int = 78) -> str:
    """``Camera         not found      No camera …`` with the advice indented below."""
    verdict = _(VERDICT_WORDS[result.verdict])
    head = f"{result.name:<{_NAME_WIDTH}}{verdict:<{_VERDICT_WIDTH}}"
    indent = " " * (_NAME_WIDTH + _VERDICT_WIDTH)
    lines = textwrap.wrap(result.detail, width, initial_indent=head, subsequent_indent=indent) or [
        head.rstrip()
    ]
    if result.advice:
        lines += textwrap.wrap(
            result.advice, width, initial_indent=indent + "→ ", subsequent_indent=indent + "  "
        )
    return "\n".join(lines)


def format_report(results: Sequence[CheckResult], width: int = 78) -> str:
    """The whole report: one block per check and a closing sentence."""
    blocks = [format_result(r, width) for r in results]
    failed = [r.name for r in results if r.failed]
    if not failed:
        closing = _("Everything needed for your session works. See you there.")
        if any(r.verdict is Verdict.NOT_FOUND for r in results):
            closing = _(
                "Everything needed works; the notes above are about what this computer "
                "does not have, and that is all right."
            )
    else:
        names = ", ".join(failed)
        closing = _(
            "Something needs a look ({names}). Try what is suggested above and run this check again. If it still fails, call your clinic before your session: they can help, and there is time."
        ).format(names=names)
    text = "\n".join(["Companion self-test", "", *blocks, "", *textwrap.wrap(closing, width)])
    return text + "\n"


def print_line(out: TextIO, text: str = "") -> None:
    """Write one line at once (the person watches it happen)."""
    out.write(text + "\n")
    out.flush()
