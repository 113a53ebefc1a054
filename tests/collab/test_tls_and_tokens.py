"""TLS (``--tls-cert/--tls-key``) and token refresh before expiry."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import new_client
from tests.support.server import serve_in_loop


def self_signed(tmp_path):
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
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
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


async def test_collaboration_over_tls(tmp_path):
    cert, key = self_signed(tmp_path)
    async with serve_in_loop(tmp_path / "data", tls_cert=str(cert), tls_key=str(key)) as srv:
        url = srv.url.replace("http://", "https://")
        srv.url = url
        context = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=context) as http:
            assert (await http.get(f"{url}/healthz")).json()["status"] == "ok"
        a = new_client(
            srv, "alice", "tls-doc", ssl_context=context, initial_content="<p>secure</p>"
        )
        b = new_client(srv, "bob", "tls-doc", ssl_context=context)
        try:
            await a.start()
            await a.wait_synced()
            await b.start()
            await b.wait_synced()
            b.append_paragraph("over wss")
            await b.flush()
            for _ in range(100):
                if "over wss" in a.to_html():
                    break
                await asyncio.sleep(0.05)
            assert a.to_html() == "<p>secure</p>\n<p>over wss</p>"
        finally:
            await a.close()
            await b.close()


async def test_plain_http_client_cannot_talk_to_a_tls_server(tmp_path):
    cert, key = self_signed(tmp_path)
    async with serve_in_loop(tmp_path / "data", tls_cert=str(cert), tls_key=str(key)) as srv:
        client = new_client(srv, "alice", "doc", reconnect=False)
        await client.start()
        try:
            await client.wait_synced(10)
        except Exception as exc:
            assert "synchronised" not in str(exc)
        else:
            raise AssertionError("a plain ws:// client synced with a TLS-only server")
        finally:
            await client.close()


async def test_short_lived_tokens_are_refreshed_before_they_expire(tmp_path):
    # leeway 1 s: the server closes a connection ~1 s after its token's exp.
    async with serve_in_loop(tmp_path / "data", leeway=1) as srv:
        issued: list[str] = []

        def tokens(arg):
            token = srv.tenant.token("alice", ttl=3)
            issued.append(token)
            return {"token": token}

        client = new_client(srv, "alice", "refresh-doc", initial_content="<p>x</p>")
        client.token_provider = tokens
        events: list[str] = []
        client.on(lambda kind, info: events.append(kind))
        await client.start()
        try:
            await client.wait_synced()
            await asyncio.sleep(7)  # more than two token lifetimes
            assert "disconnected" not in events
            assert len(issued) >= 3  # the hello token plus refreshes
            client.append_paragraph("still connected")
            await client.flush(5)
        finally:
            await client.close()


async def test_expired_connection_is_closed_with_the_seed_message(tmp_path):
    from tests.collab.helpers import RawClient

    async with serve_in_loop(tmp_path / "data", leeway=0) as srv:
        raw = await RawClient.connect(srv)
        try:
            await raw.hello(srv.tenant, "exp-doc", token=srv.tenant.token("alice", ttl=2))
            frame = await raw.expect_error("jwt", timeout=10)
            assert frame["message"] == "JWT has expired"
        finally:
            await raw.close()
