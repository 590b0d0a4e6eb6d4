"""A stand-in for a Temporal cluster's TLS front (not Longrun's stack): a TCP forwarder on 127.0.0.1 that terminates
TLS (ALPN h2, a client certificate required: mTLS) and passes the bytes to the dev server, which has no TLS of its own.
gRPC's HTTP/2 is the same on either side, so clients see a secured cluster.

Certificates are made per test with `cryptography`: a CA, the server's for SERVER_NAME, and a client's signed by the
same CA. The front runs on its own thread and loop, so a test may block (starting processes) while it serves.
"""

import asyncio
import contextlib
import datetime
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack import processes as ps
from tests.support.relay import pipe

SERVER_NAME = "temporal.test"  # not the address's host: clients must send it (TEMPORAL_TLS_SERVER_NAME) to verify


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    pkcs8, clear = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, clear)


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server_name: str | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if server_name:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test cluster CA", ca_key, None, ca=True)
    issuer = (ca.subject, ca_key)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_usage = ExtendedKeyUsageOID.SERVER_AUTH
    server = _certificate(SERVER_NAME, server_key, issuer, server_name=SERVER_NAME, usage=server_usage)
    client = _certificate("longrun-worker", client_key, issuer, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    pki = Pki(*(directory / name for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")))
    pem = serialization.Encoding.PEM
    pki.ca.write_bytes(ca.public_bytes(pem))
    pki.server_cert.write_bytes(server.public_bytes(pem))
    pki.server_key.write_bytes(_pem_key(server_key))
    pki.client_cert.write_bytes(client.public_bytes(pem))
    pki.client_key.write_bytes(_pem_key(client_key))
    for key in (pki.server_key, pki.client_key):
        key.chmod(0o600)
    return pki


class TlsFront:
    """`with TlsFront(pki, upstream_port) as front:` serves mTLS on 127.0.0.1:`front.port` until the block ends."""

    def __init__(self, pki: Pki, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = ps.free_port()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.set_alpn_protocols(["h2"])
        # Handshakes that completed with a verified client certificate: what the refusal test contrasts with.
        self.verified_clients = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-front", daemon=True)
        self._server: asyncio.Server | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> "TlsFront":
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        # Refused handshakes (the point of one test) are not errors of the front.
        self._loop.set_exception_handler(lambda loop, context: None)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, ps.HOST, self.port, ssl=self.context)
            )
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        with contextlib.suppress(BaseException):
            self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if writer.get_extra_info("peercert"):
            self.verified_clients += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(ps.HOST, self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
