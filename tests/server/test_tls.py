"""WSS: the server speaks TLS with a certificate it is given; clients verify it."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from companion.server.app import ServerConfig, SignalingServer
from companion.signaling.client import ClientOptions, SignalingClient


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_wss_with_a_verified_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    config = ServerConfig(data_dir=tmp_path / "data", port=0, cert=cert, key=key)
    async with SignalingServer(config) as server:
        assert server.ws_url.startswith("wss://")
        _, secret = server.db.add_therapist("dr-tls")
        trust = ssl.create_default_context(cafile=str(cert))
        client = SignalingClient(server.ws_url, ClientOptions(ssl_context=trust))
        await client.connect()
        ok = await client.login("dr-tls", secret)
        assert ok.therapist_id
        await client.close()
        # Without trusting the certificate, the client refuses to talk.
        stranger = SignalingClient(server.ws_url)
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await stranger.connect()
        await stranger.close()
