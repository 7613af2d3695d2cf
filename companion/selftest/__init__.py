"""Self-tests: ``companion self-test`` for a person, ``companion --self-test`` for the build.

``companion self-test [--server URL] [--turn URL]`` is what a patient runs the evening
before a session (or what the clinic asks them to run on the phone): camera, microphone
with a level meter, speakers with a soft chime, the clinic server and the TURN relay. Each
check ends with a plain verdict — ok, not found, failed, not configured — and, when it
is not ok, a sentence on what to do. A computer without a camera or microphone is a normal
case, said kindly.

``companion --self-test`` is for the built app (``build_installer.py``) and CI: offscreen,
it checks that Qt draws a widget, the audio engine plays on an output device (the ALSA
null device counts on a machine without a sound card), aiortc completes a call set-up on
loopback, and the bundled music decodes. One line per check; exit 0 only if all pass.

Nothing here logs or prints anything about a person's health or session: only devices,
addresses the person typed, and versions. Qt is imported only inside the app self-test.

The package: ``report`` (verdicts and the report), ``devices`` (camera, microphone,
speakers), ``server`` (the clinic server), ``turn`` (the relay), ``person`` (the person's
run), ``build`` (the build's run) and ``cli`` (the commands).
"""

from companion.selftest.build import APP_CHECKS, AppCheck, run_app_selftest
from companion.selftest.cli import add_selftest_commands, run_selftest_command
from companion.selftest.devices import (
    LevelMeter,
    check_camera,
    check_microphone,
    check_speakers,
    level_bar,
)
from companion.selftest.person import PersonOptions, run_person_checks, run_person_selftest
from companion.selftest.report import CheckResult, Verdict, format_report, format_result
from companion.selftest.server import ServerAnswer, check_server, healthz_url
from companion.selftest.turn import TurnTarget, check_turn, parse_turn_url, turn_from_health

__all__ = [
    "APP_CHECKS",
    "AppCheck",
    "CheckResult",
    "LevelMeter",
    "PersonOptions",
    "ServerAnswer",
    "TurnTarget",
    "Verdict",
    "add_selftest_commands",
    "check_camera",
    "check_microphone",
    "check_server",
    "check_speakers",
    "check_turn",
    "format_report",
    "format_result",
    "healthz_url",
    "level_bar",
    "parse_turn_url",
    "run_app_selftest",
    "run_person_checks",
    "run_person_selftest",
    "run_selftest_command",
    "turn_from_health",
]
