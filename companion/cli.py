"""``companion``: one command, a subcommand per job.

Errors in the command line give one line and exit code 2; other failures one line and
exit code 1. Tracebacks are for ``--debug``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from companion import __version__
from companion.i18n import set_language, system_language
from companion.selftest import add_selftest_commands, run_selftest_command


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def default_server_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("Companion", "Companion")) / "server"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="companion",
        description=(
            "Companion keeps a patient company during an at-home ketamine-assisted "
            "therapy session: a call with their therapist, calm music, check-ins and a "
            "monitor that makes sure they are never left alone."
        ),
    )
    parser.add_argument("--version", action="version", version=f"companion {__version__}")
    parser.add_argument("--debug", action="store_true", help="show debug logs and tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    server = commands.add_parser(
        "server",
        help="run the clinic's signaling server",
        description="Run the signaling server that connects patients, therapists and support people.",
    )
    server.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    server.add_argument(
        "--port", type=int, default=8765, help="port (default %(default)s; 0 picks one)"
    )
    server.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where accounts, sessions and the signing key live",
    )
    server.add_argument("--cert", type=Path, help="TLS certificate (PEM) for wss://")
    server.add_argument("--key", type=Path, help="TLS private key (PEM)")
    server.add_argument(
        "--public-url", help="the wss://…/ws address clients use (for invite links)"
    )
    server.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to connect (repeatable)",
    )
    server.add_argument(
        "--stun", action="append", default=[], metavar="URL", help="STUN URL handed to clients"
    )
    server.add_argument(
        "--turn", action="append", default=[], metavar="URL", help="TURN URL handed to clients"
    )
    server.add_argument(
        "--redis", metavar="URL", help="share state with other nodes through Redis (redis://…)"
    )
    server.add_argument(
        "--turn-secret-file",
        type=Path,
        help="file holding coturn's static-auth-secret (for short-lived TURN credentials)",
    )
    server.add_argument(
        "--notify-config",
        type=Path,
        metavar="FILE",
        help="the clinic's escalation to phones and e-mail: Apprise URLs, secrets in files (docs/deploy.md)",
    )
    server.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="IP",
        help="a reverse proxy in front of this node (repeatable): clients "
        "are limited by the address it forwards",
    )
    # Also after the subcommand (deploy.md's units put it there); absent, the top-level
    # --debug stands.
    server.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show debug logs and tracebacks",
    )
    server_commands = server.add_subparsers(
        dest="server_command", metavar="ACTION", parser_class=_Parser
    )
    add = server_commands.add_parser(
        "add-therapist",
        help="create a therapist account and print its one-time secret",
        description="Create a therapist account. The secret is printed once; only a slow hash is kept.",
    )
    add.add_argument("name", help="the therapist's sign-in name")
    add.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        dest="add_data_dir",
        help="the server's data directory",
    )

    demo = commands.add_parser(
        "demo",
        help="see a whole session on this machine in a minute",
        description=(
            "Start an embedded server and the patient's, therapist's and support person's "
            "apps with synthetic media, play a scripted session and print its timeline."
        ),
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="run under Qt's offscreen platform (automatic when there is no screen)",
    )
    demo.add_argument("--record", type=Path, metavar="DIR", help="write the timeline (JSON) to DIR")
    demo.add_argument("--quick", action="store_true", help="shorter pauses between steps")

    for role, what in (
        ("patient", "join a session as the patient"),
        ("support", "join a session as the support person in the home"),
    ):
        app = commands.add_parser(role, help=what, description=what.capitalize() + ".")
        app.add_argument("--join", metavar="LINK|CODE", help="the invite link, or the short code")
        app.add_argument(
            "--server",
            metavar="URL",
            help="the clinic server (ws:// or wss://…/ws; default: the one the app knows)",
        )
        _app_options(app)
    therapist = commands.add_parser(
        "therapist",
        help="open the therapist console",
        description="Sign in to the clinic server, create sessions and watch over them.",
    )
    therapist.add_argument(
        "--server", metavar="URL", required=True, help="the clinic server (ws:// or wss://…/ws)"
    )
    therapist.add_argument("--name", help="sign-in name (asked in the window if left out)")
    therapist.add_argument(
        "--auto-gain",
        action="store_true",
        help="raise a quiet voice automatically (the microphone's AGC)",
    )
    therapist.add_argument(
        "--no-noise-suppression",
        action="store_true",
        help="send the room as it sounds (echo cancellation stays on)",
    )
    _app_options(therapist)
    opener = commands.add_parser(
        "open",
        help="open a companion:// invite link in the right app",
        description="Open a companion:// invite link (what the desktop link handler runs).",
    )
    opener.add_argument("link")
    _app_options(opener)
    add_selftest_commands(commands, parser)
    return parser


def _app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="this app's own folder (record, music state)"
    )
    parser.add_argument(
        "--fake-media",
        action="store_true",
        help="a moving test pattern and a tone instead of camera and microphone",
    )


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _run_server(args: argparse.Namespace) -> int:
    from companion.server.app import ServerConfig, SignalingServer
    from companion.server.guard import AddressLimits
    from companion.server.ice import IceConfig
    from companion.server.notify_config import NotifyConfigError

    if bool(args.cert) != bool(args.key):
        raise SystemExit("companion server: --cert and --key go together")
    turn_secret = args.turn_secret_file.read_text().strip() if args.turn_secret_file else None
    config = ServerConfig(
        data_dir=args.data_dir or default_server_dir(),
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        cert=args.cert,
        key=args.key,
        allowed_origins=frozenset(args.allow_origin),
        redis_url=args.redis,
        ice=IceConfig(stun_urls=args.stun, turn_urls=args.turn, turn_secret=turn_secret),
        address_limits=AddressLimits(trusted_proxies=frozenset(args.trusted_proxy)),
        own_process=True,
        notify_config=args.notify_config,
    )
    logging.getLogger("companion").setLevel(logging.DEBUG if args.debug else logging.INFO)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            running = SignalingServer(config)
        except NotifyConfigError as exc:
            raise SystemExit(f"companion server: --notify-config: {exc}") from None
        async with running as server:
            print(
                f"companion server listening on {server.ws_url} (data in {config.data_dir})",
                flush=True,
            )
            await stop.wait()

    asyncio.run(serve())
    return 0


def _add_therapist(args: argparse.Namespace) -> int:
    from companion.server.app import open_clinic_db

    data_dir = args.add_data_dir or args.data_dir or default_server_dir()
    db = open_clinic_db(data_dir)
    try:
        therapist, secret = db.add_therapist(args.name)
    except Exception as exc:
        if "UNIQUE" in str(exc):
            raise SystemExit(f"companion: a therapist called {args.name!r} already exists") from exc
        raise
    finally:
        db.close()
    print(f"Therapist {args.name!r} added (id {therapist.therapist_id}).")
    print(f"One-time secret (shown only now): {secret}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from companion.demo import run_demo

    return run_demo(record_dir=args.record, quick=args.quick, headless=args.headless)


def _app_data_dir(args: argparse.Namespace, role: str) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    from companion.records import resolve_data_dir

    return resolve_data_dir(None) / role


def _run_app(args: argparse.Namespace) -> int:
    from companion.app import link_details
    from companion.ui.common import run_qt

    command, join, server = args.command, getattr(args, "join", None), getattr(args, "server", None)
    if command == "open":
        join = args.link
        server, role = link_details(args.link)
        command = role or "patient"
    elif join:
        server = server or link_details(join)[0]
    # A short code alone is enough: the apps know their clinic's server (companion.desktop).
    data_dir = _app_data_dir(args, command)
    if command == "therapist":
        from companion.audio.processing import ProcessingSettings
        from companion.ui.therapist import run_therapist

        # Either flag decides for this run; without them, the therapist's last choice.
        voice = (
            ProcessingSettings(
                noise_suppression=not args.no_noise_suppression, auto_gain=args.auto_gain
            )
            if args.auto_gain or args.no_noise_suppression
            else None
        )
        return _ended(
            run_qt(
                lambda app: run_therapist(
                    app, server or "", data_dir, args.fake_media, args.name, voice=voice
                )
            )
        )
    if command == "support":
        from companion.ui.support import run_support

        return _ended(run_qt(lambda app: run_support(app, server or "", join, data_dir)))
    from companion.ui.patient import run_patient

    return _ended(
        run_qt(lambda app: run_patient(app, server or "", join, data_dir, args.fake_media))
    )


def _ended(rc: int, grace_s: float = 2.0) -> int:
    """The window is closed: the process ends. A worker thread still blocked in a device
    or a socket (non-daemon, so Python would wait for it at exit) gets ``grace_s``; then
    the process leaves without it, rather than live on with no window."""
    deadline = time.monotonic() + grace_s
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        logging.getLogger("companion").warning("a worker did not stop; leaving without it")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


def private_files() -> None:
    """Everything this process writes is its user's alone: files 0600, folders 0700
    (records, resume file, the server's database and key, logs, exports)."""
    os.umask(0o077)


def main(argv: Sequence[str] | None = None) -> int:
    private_files()
    # The self-check speaks the operating system's language; each app then takes its
    # person's saved choice (companion/ui/language.py).
    set_language(system_language())
    args = build_parser().parse_args(argv)
    _configure_logging(args.debug)
    try:
        if args.command == "server":
            return (
                _add_therapist(args)
                if args.server_command == "add-therapist"
                else _run_server(args)
            )
        if args.command == "demo":
            return _run_demo(args)
        if args.command == "self-test":
            return run_selftest_command(args)
        if args.command in ("patient", "therapist", "support", "open"):
            return _run_app(args)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if args.debug:
            raise
        print(f"companion: {exc.strerror or exc}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command}")
