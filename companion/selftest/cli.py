"""The command line: ``companion self-test`` and ``companion --self-test``."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from typing import Any

from companion.i18n import _
from companion.selftest.build import run_app_selftest
from companion.selftest.person import PersonOptions, run_person_checks, run_person_selftest
from companion.selftest.report import CheckResult


class _AppSelfTestAction(argparse.Action):
    """``--self-test``: runs at parse time and exits, like ``--version``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        parser.exit(run_app_selftest())


def add_selftest_commands(
    subparsers: argparse._SubParsersAction[Any], parser: argparse.ArgumentParser | None = None
) -> None:
    """``companion self-test`` (the person's check) and, given the top-level ``parser``,
    ``companion --self-test`` (the build's check). The command runs through
    ``args.run(args)``."""
    if parser is not None:
        parser.add_argument(
            "--self-test",
            action=_AppSelfTestAction,
            help=_("check that this build works (Qt, audio, calls, music), offscreen, and exit"),
        )
    check = subparsers.add_parser(
        "self-test",
        help=_("check camera, microphone, speakers and the connection before a session"),
        description=(
            _(
                "Check this computer before a session: camera, microphone (speak for a moment), "
                "speakers (a soft chime), the clinic server and the relay. Each gets a plain "
                "verdict and, if something is wrong, what to do."
            )
        ),
    )
    check.add_argument(
        "--server", metavar="URL|LINK", help=_("the clinic server (wss://…/ws) or your invite link")
    )
    check.add_argument(
        "--turn",
        metavar="URL",
        help=_("the relay, e.g. turn:turn.clinic.example:3478?transport=udp"),
    )
    check.add_argument("--turn-username", help=argparse.SUPPRESS)
    check.add_argument("--turn-password", help=argparse.SUPPRESS)
    check.add_argument(
        "--listen",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help=_("how long to listen to the microphone (default %(default)s)"),
    )
    check.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["camera", "microphone", "speakers", "server", "turn"],
        help=_("leave a check out (repeatable)"),
    )
    check.add_argument("--json", action="store_true", help=_("print the results as JSON"))
    check.set_defaults(run=run_selftest_command)


def run_selftest_command(args: argparse.Namespace) -> int:
    options = PersonOptions(
        server=args.server,
        turn=args.turn,
        turn_username=args.turn_username,
        turn_password=args.turn_password,
        listen_s=max(0.2, min(30.0, args.listen)),
        skip=frozenset(args.skip),
    )
    if args.json:
        results = asyncio.run(run_person_checks(options))
        print(json.dumps([_as_dict(r) for r in results], indent=2, ensure_ascii=False))
        return 1 if any(r.failed for r in results) else 0
    return run_person_selftest(options)


def _as_dict(result: CheckResult) -> dict[str, str]:
    return {
        "check": result.name,
        "verdict": result.verdict.value,
        "detail": result.detail,
        "advice": result.advice,
    }
