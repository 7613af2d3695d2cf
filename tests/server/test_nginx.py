"""docs/deploy.md's nginx configuration, run for real in front of a node (Debian
``nginx-light``): the file as the page shows it, with lab addresses and a test certificate.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from companion.server.app import ServerConfig, SignalingServer
from companion.server.guard import AddressLimits
from devtools.services import free_port
from tests.server.raw import RawClient
from tests.server.test_tls import _self_signed

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")


def documented_config() -> str:
    match = re.search(r"```nginx\n(.*?)```", DEPLOY.read_text(), re.S)
    assert match, "deploy.md shows an nginx configuration"
    return match.group(1)


@dataclass
class Proxy:
    port: int
    trust: ssl.SSLContext

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/ws"


@pytest.fixture
def nginx_for(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
async def proxied(
    tmp_path: Path, nginx_for: list[subprocess.Popen[bytes]]
) -> AsyncIterator[tuple[SignalingServer, Proxy]]:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    config = ServerConfig(
        data_dir=tmp_path / "server",
        port=0,
        public_url=f"wss://127.0.0.1:{port}/ws",
        address_limits=AddressLimits(trusted_proxies=frozenset({"127.0.0.1"})),
    )
    async with SignalingServer(config) as server:
        site = documented_config()
        site = re.sub(
            r"(    server 10\.0\.0\.\d+:8765;\n)+", f"    server 127.0.0.1:{server.port};\n", site
        )
        site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
        site = site.replace(
            "/etc/letsencrypt/live/companion.clinic.example/fullchain.pem", str(cert)
        )
        site = site.replace("/etc/letsencrypt/live/companion.clinic.example/privkey.pem", str(key))
        (tmp_path / "companion.conf").write_text(site)
        temp = tmp_path / "nginx-temp"
        temp.mkdir()
        (tmp_path / "nginx.conf").write_text(
            f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
            f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
            f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
            f"  include {tmp_path}/companion.conf;\n}}\n"
        )
        command = [
            "nginx",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(tmp_path / "nginx.conf"),
        ]
        quiet = subprocess.DEVNULL
        nginx_for.append(subprocess.Popen(command, stdout=quiet, stderr=quiet))
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    assert nginx_for[0].poll() is None, (tmp_path / "error.log").read_text()
                    await asyncio.sleep(0.05)
        yield server, Proxy(port, ssl.create_default_context(cafile=str(cert)))


async def test_a_session_through_the_documented_nginx(
    proxied: tuple[SignalingServer, Proxy],
) -> None:
    server, proxy = proxied
    _, secret = server.db.add_therapist("dr-proxy")
    therapist = await RawClient.open(proxy.ws_url, source="127.0.0.5", ssl=proxy.trust)
    await therapist.request(
        {"type": "login", "therapist": "dr-proxy", "secret": secret}, "login_ok"
    )
    created = await therapist.request({"type": "create_session"}, "session_created")
    await therapist.request(
        {"type": "join", "session_id": created["session"]["session_id"]}, "joined"
    )
    # A client that forges its own X-Forwarded-For is still seen at its real address.
    patient = await RawClient.open(
        proxy.ws_url,
        source="127.0.0.6",
        ssl=proxy.trust,
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    await patient.request({"type": "join", "invite": created["invites"][0]["token"]}, "joined")
    # The node limits each client by its own address, not the proxy's.
    assert {c.remote for c in server.connections} == {"127.0.0.5", "127.0.0.6"}
    await patient.send(
        {
            "type": "event",
            "event_id": "0b7e4a8a-3c1f-4d8e-9a39-6b0f2f6a1c55",
            "event": {"kind": "checkin"},
        }
    )
    event = await therapist.recv_type("event")
    while event["event"]["kind"] != "checkin":
        event = await therapist.recv_type("event")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"https://127.0.0.1:{proxy.port}/healthz", ssl=proxy.trust) as reply,
        http.get(f"https://127.0.0.1:{proxy.port}/board", ssl=proxy.trust) as board,
        http.get(f"https://127.0.0.1:{proxy.port}/board/board.js", ssl=proxy.trust) as script,
    ):
        assert reply.status == 200
        assert board.status == 200 and "Join the session" in await board.text()
        assert script.status == 200  # the support person's board passes the proxy
    await therapist.close()
    await patient.close()


async def test_the_proxy_cuts_a_slow_request_and_keeps_to_aead(
    proxied: tuple[SignalingServer, Proxy],
) -> None:
    _, proxy = proxied
    cbc = ssl.create_default_context(cafile=None)
    cbc.check_hostname = False
    cbc.verify_mode = ssl.CERT_NONE
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.open_connection("127.0.0.1", proxy.port, ssl=cbc)
    # Headers that never end: nginx closes the connection, the node never sees it.
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port, ssl=proxy.trust)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: clinic\r\n")  # and never the rest
    async with asyncio.timeout(20):  # nginx's client_header_timeout (10 s) closes it
        while await reader.read(4096):
            pass
    writer.close()
