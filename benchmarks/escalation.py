"""Escalation benchmark (issue 21): a patient whose support person is away is still reached
by a phone, and an acknowledgement from that phone quiets every app.

Four real hosts (network namespaces, as in never_alone.py): the server, the therapist, the
patient, and the support person's "phone". The support person gave their e-mail and phone
when they joined, then closed their app: it is **not running**. The server's
``--notify-config`` sends through Apprise's real code to a real SMTP server (aiosmtpd) and a
real HTTP receiver (an SMS gateway's webhook), both on the server host. Each trial cuts
the patient's network totally, then:

* notify_s: cut -> the first message of the incident received by *both* receivers (target
  <= escalation time + 5 s = 35 s with the defaults). Median and max over the trials.
* ack_fanout_s: the e-mail's acknowledge link pressed in headless Chromium (on the phone
  host; GET, then the button's POST) -> the therapist's app shows the answer (the server's
  ``escalation answered`` event on its timeline; the patient's app is cut off). Target <= 2.
* duplicates: messages received more than once (by their link id); lost: trials whose
  round-0 e-mail or text never came (within 90 s of the cut).

One trial (``--kill-trial``, default the 3rd) kills the server (SIGKILL) 15 s after the cut,
before anything is due, and starts it again on the same data: the incident must survive.

Needs root (ip netns, nftables) and Debian chromium. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.netlab import NetLab, Reports, add_therapist, first_line

SMTP_PORT = 2525
HTTP_PORT = 8088
SERVER_PORT = 8765
EMAIL = "sam.support@home.test"
PHONE = "+15551234567"


def report(**fields: object) -> None:
    print(json.dumps({"t": round(time.monotonic(), 3), **fields}), flush=True)


def link_ids(link: str) -> tuple[str, str]:
    """(incident id, link id) from an acknowledge link's signed payload."""
    payload = link.rsplit("/", 1)[1].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["inc"], claims["lid"]


# --------------------------------------------------------------------------- helper processes
async def run_receivers() -> None:
    """On the server host: the SMTP server and the webhook, one JSON line per message."""
    import email.policy
    import re
    from email import message_from_bytes

    from aiohttp import web
    from aiosmtpd.smtp import SMTP, Envelope, Session

    found = re.compile(r"Acknowledge: (\S+/ack/\S+)")

    class Mail:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            assert isinstance(envelope.content, bytes)
            mail = message_from_bytes(envelope.content, policy=email.policy.default)
            body = mail.get_body(("plain",))
            match = found.search(str(body.get_content())) if body is not None else None
            report(event="mail", link=match.group(1) if match else None)
            return "250 OK"

    async def hook(request: web.Request) -> web.Response:
        match = found.search((await request.json())["message"])
        report(event="post", path=request.path, link=match.group(1) if match else None)
        return web.Response(text="ok")

    await asyncio.get_running_loop().create_server(lambda: SMTP(Mail()), "127.0.0.1", SMTP_PORT)
    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", HTTP_PORT).start()
    report(event="ready")
    await asyncio.Event().wait()


async def set_contacts(url: str, invite: str) -> None:
    """On the phone host: the support person joins once, gives their contacts, leaves."""
    from companion.signaling.client import SignalingClient

    support = SignalingClient(url)
    await support.connect()
    joined = await support.join(invite, as_role="support")
    await support.set_contacts(joined.session_id, email=EMAIL, sms=PHONE)
    await support.leave()
    await support.close()
    report(event="contacts")


async def press(link: str, folder: str) -> None:
    """On the phone host: open the link in headless Chromium and press the button."""
    from devtools.chromium import chromium

    async with chromium(Path(folder) / "chromium") as page:
        await page.goto(link)
        await page.wait_for("document.getElementById('ack') !== null")
        report(event="pressing")
        await page.evaluate("document.getElementById('ack').click()")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            answer = await page.evaluate(
                "document.querySelector('h1') && document.querySelector('h1').id"
            )
            if answer in ("done", "already", "used", "expired", "invalid"):
                report(event="pressed", answer=answer)
                return
            await asyncio.sleep(0.05)
        report(event="pressed", answer=None)


# --------------------------------------------------------------------------- the lab
class Bench:
    def __init__(self, lab: NetLab, tmp: Path, after_s: float) -> None:
        self.lab, self.tmp = lab, tmp
        self.reports = Reports()
        for role in ("srv", "ther", "pat", "sup"):
            lab.add_host(role)
        self.address = lab.hosts["srv"].address
        self.url = f"ws://{self.address}:{SERVER_PORT}/ws"
        self.notify = tmp / "notify.toml"
        self.notify.write_text(f"""
link_base = "http://{self.address}:{SERVER_PORT}"
[channels]
email = "mailto://127.0.0.1:{SMTP_PORT}?from=companion@clinic.test&to={{to}}"
sms = "json://127.0.0.1:{HTTP_PORT}/sms/{{to}}"
[oncall]
urls = ["json://127.0.0.1:{HTTP_PORT}/oncall"]
[ladder]
after_s = {after_s}
""")
        self.secret = add_therapist(tmp / "server", "bench")
        self.receivers = lab.spawn("srv", [__file__, "receivers"], log=tmp / "receivers.log")
        first_line(self.receivers, "ready", timeout=30)
        self.reports.follow("receivers", self.receivers)
        self.starts = 0
        self.server = self.start_server()
        common = ["--seconds", "100000", "--commands"]
        self.ther = lab.spawn_peer(
            "ther",
            "therapist",
            self.url,
            "--name",
            "bench",
            f"--secret={self.secret}",
            *common,
            log=tmp / "ther.log",
            stdin=True,
        )
        invite = first_line(self.ther, "invite", timeout=60)
        self.reports.follow("therapist", self.ther)
        helper = lab.spawn(
            "sup", [__file__, "contacts", self.url, invite["support"]], log=tmp / "contacts.log"
        )
        first_line(helper, "contacts", timeout=60)
        helper.wait(timeout=30)
        self.pat = lab.spawn_peer(
            "pat",
            "patient",
            self.url,
            "--invite",
            invite["token"],
            *common,
            log=tmp / "pat.log",
            stdin=True,
        )
        self.reports.follow("patient", self.pat)
        self.wait_connected(0, 90)

    def start_server(self) -> subprocess.Popen[str]:
        self.starts += 1
        srv = self.lab.spawn(
            "srv",
            [
                "-m",
                "companion",
                "server",
                "--host",
                self.address,
                "--port",
                str(SERVER_PORT),
                "--data-dir",
                str(self.tmp / "server"),
                "--notify-config",
                str(self.notify),
            ],
            log=self.tmp / f"server-{self.starts}.log",
        )
        assert srv.stdout is not None and "listening" in srv.stdout.readline()
        return srv

    def kill_and_restart_server(self) -> None:
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(timeout=10)
        self.server = self.start_server()

    def wait_connected(self, since: float, timeout: float = 60) -> None:
        for role in ("patient", "therapist"):
            if self.reports.first(role, "link", since, timeout, state="connected") is None:
                raise SystemExit(f"the {role}'s call did not come up")

    def press(self, link: str, trial: int) -> tuple[float | None, str | None]:
        helper = self.lab.spawn(
            "sup",
            [__file__, "press", link, str(self.tmp / f"chromium-{trial}")],
            log=self.tmp / f"press-{trial}.log",
        )
        pressing = first_line(helper, "pressing", timeout=60)
        pressed = first_line(helper, "pressed", timeout=30)
        helper.wait(timeout=30)
        return float(pressing["t"]), pressed.get("answer")

    def close(self) -> None:
        for proc in (self.pat, self.ther, self.server, self.receivers):
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode")
    sub.add_parser("receivers")
    contacts = sub.add_parser("contacts")
    contacts.add_argument("url")
    contacts.add_argument("invite")
    pressing = sub.add_parser("press")
    pressing.add_argument("link")
    pressing.add_argument("folder")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--kill-trial", type=int, default=3, help="1-based; 0: none")
    parser.add_argument("--after-s", type=float, default=30.0, help="the escalation time")
    args = parser.parse_args()
    if args.mode == "receivers":
        asyncio.run(run_receivers())
        return
    if args.mode == "contacts":
        asyncio.run(set_contacts(args.url, args.invite))
        return
    if args.mode == "press":
        asyncio.run(press(args.link, args.folder))
        return
    reason = NetLab.available()
    if reason:
        raise SystemExit(f"escalation needs network namespaces: {reason}")

    notify: list[float] = []
    fanout: list[float] = []
    lost = 0
    answers: list[str | None] = []
    with tempfile.TemporaryDirectory() as tmp_name, NetLab() as netlab:
        bench = Bench(netlab, Path(tmp_name), args.after_s)
        reports = bench.reports
        for trial in range(1, args.trials + 1):
            cut = time.monotonic()
            netlab.cut("pat", "both")
            if trial == args.kill_trial:
                time.sleep(15.0)
                bench.kill_and_restart_server()
            mail = reports.first("receivers", "mail", cut, 90)
            post = reports.first("receivers", "post", cut, 90 - (time.monotonic() - cut))
            if mail is None or post is None:
                lost += 1
            else:
                notify.append(max(float(mail["t"]), float(post["t"])) - cut)
            if mail is not None and mail.get("link"):
                pressed_at, answer = bench.press(mail["link"], trial)
                answers.append(answer)
                shown = reports.first(
                    "therapist",
                    "timeline",
                    pressed_at or cut,
                    10,
                    kind="escalation",
                    what="answered",
                )
                if shown is not None and pressed_at is not None:
                    fanout.append(float(shown["t"]) - pressed_at)
            healed = time.monotonic()
            netlab.heal("pat")
            bench.wait_connected(healed, 90)
            time.sleep(3.0)
            print(
                f"trial {trial}: notify {notify[-1] if notify else None} s, "
                f"ack fan-out {fanout[-1] if fanout else None} s, answer {answers[-1] if answers else None}",
                file=sys.stderr,
            )
        time.sleep(2.0)
        received = [m["link"] for m in reports.matching("receivers", "mail")] + [
            m["link"] for m in reports.matching("receivers", "post")
        ]
        counts = Counter(link_ids(link)[1] for link in received if link)
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        messages = len(received)
        bench.close()

    result = {
        "notify_s": round(float(np.median(notify)), 3) if notify else None,
        "notify_max_s": round(max(notify), 3) if notify else None,
        "ack_fanout_s": round(float(np.median(fanout)), 3) if fanout else None,
        "ack_fanout_max_s": round(max(fanout), 3) if fanout else None,
        "duplicates": duplicates,
        "lost": lost,
        "trials": args.trials,
        "killed_trial": args.kill_trial,
        "messages": messages,
        "answers_done": sum(1 for a in answers if a == "done"),
        "escalation_after_s": args.after_s,
    }
    print(
        f"notify {result['notify_s']} s (max {result['notify_max_s']}), ack fan-out "
        f"{result['ack_fanout_s']} s, duplicates {duplicates}, lost {lost}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
