"""An S3 server on 127.0.0.1: moto's threaded server, in this process.

    with moto_server() as server:
        store = S3Store(server.config("bucket", "prefix"))

moto keeps its buckets in process-wide state, not per server: a server stopped and started again on
the same port (:meth:`MotoServer.stop`, :meth:`MotoServer.start`) serves the same buckets, which is
how a test brings a server back after a failure. Use fresh bucket names to keep tests apart.

With ``auth=True`` the server checks request signatures against IAM access keys: the context creates
an IAM user with a key allowed everything, and ``config()`` hands out that key. moto's switch is
process-wide too, so it is turned off again when the context ends. Nothing here imports pytest: a
benchmark script uses it as well.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import urllib.request
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# moto's static keys: any pair is accepted while authentication is off.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
_ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


class MotoServer:
    """A running moto server: ``host``, ``port``, ``endpoint`` and the keys to reach it."""

    def __init__(self, tls: bool = False) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.tls = tls
        self.access_key = ACCESS_KEY
        self.secret_access_key = SECRET_KEY
        self._server: Any = None
        self._client: Any = None
        self._folder = tempfile.TemporaryDirectory(prefix="kloset-s3-")
        #: The PEM certificate a TLS server presents (self-signed: a client trusts it only when told to).
        self.certificate = b""
        self._ssl: ssl.SSLContext | None = None
        if tls:
            self._ssl, self.certificate = _self_signed_context()

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    def location(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{self.endpoint}/{bucket}" + (f"/{prefix.strip('/')}" if prefix.strip("/") else "")

    def config(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """A whole connector config for ``bucket`` (and a key prefix) on this server."""
        return {"location": self.location(bucket, prefix), "use_tls": "true" if self.tls else "false",
                "access_key": self.access_key, "secret_access_key": self.secret_access_key}

    def client(self) -> Any:
        """A plain boto3 client on this server, for a test to look at or change what is stored."""
        import boto3
        from botocore.config import Config

        if self._client is None:  # made once: a client costs tens of milliseconds
            verify: str | None = None
            if self.tls:
                verify = os.path.join(self._folder.name, "ca.pem")
                with open(verify, "wb") as f:
                    f.write(self.certificate)
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_access_key, verify=verify,
                config=Config(s3={"addressing_style": "path"}))
        return self._client

    def start(self) -> None:
        """Start serving, on the port of the last run if there was one (moto's state is kept)."""
        self._server = _threaded_server(self.host, self.port, self._ssl)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    def stop(self) -> None:
        """Stop serving, close the listening socket and drop open connections: from then on, connecting
        is refused at once."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()

    def enable_auth(self) -> None:
        """Create an IAM user allowed everything, use its key, and have moto check every signature."""
        import boto3

        iam = boto3.session.Session().client("iam", endpoint_url=self.url, region_name="us-east-1",
                                             aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        iam.create_user(UserName="kloset")
        iam.put_user_policy(UserName="kloset", PolicyName="all", PolicyDocument=_ALLOW_ALL)
        key = iam.create_access_key(UserName="kloset")["AccessKey"]
        self.access_key, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        self._client = None
        self._set_auth("0")

    def disable_auth(self) -> None:
        self._set_auth("inf")
        self.access_key, self.secret_access_key = ACCESS_KEY, SECRET_KEY
        self._client = None

    def _set_auth(self, unchecked_requests: str) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=unchecked_requests.encode(),
                                         headers={"Content-Type": "text/plain"}, method="POST")
        trusting = ssl.create_default_context(cadata=self.certificate.decode()) if self.tls else None
        with urllib.request.urlopen(request, timeout=10, context=trusting) as response:
            response.read()


def _threaded_server(host: str, port: int, context: ssl.SSLContext | None) -> Any:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    class MotoThread(ThreadedMotoServer):
        """moto's threaded server, optionally behind TLS, that can also drop its open connections.

        werkzeug serves each keep-alive connection in a thread of its own that outlives the server's
        shutdown: without dropping them, a "stopped" server would go on answering a client's pooled
        connections."""

        connections: weakref.WeakSet[socket.socket]

        def _server_entry(self) -> None:
            self.connections = weakref.WeakSet()
            app = DomainDispatcherApplication(create_backend_app)
            server = make_server(self._ip_address, self._port, app, True, ssl_context=context)
            accept = server.get_request

            def get_request() -> tuple[socket.socket, Any]:
                conn, address = accept()
                self.connections.add(conn)
                return conn, address

            server.get_request = get_request  # type: ignore[method-assign]
            self._server = server
            self._server_ready_event.set()
            server.serve_forever()

        def stop(self) -> None:
            super().stop()
            if self._server is not None:
                # stop() leaves the listening socket open: clients would connect and wait for nothing.
                self._server.socket.close()
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    return MotoThread(ip_address=host, port=port, verbose=False)


def _self_signed_context() -> tuple[ssl.SSLContext, bytes]:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (no client trusts it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(pem)
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        context.load_cert_chain(cert_path, key_path)
    return context, pem


def free_port() -> int:
    """A port that nothing listens on (bound and released, so refused until something takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server(auth: bool = False, tls: bool = False) -> Iterator[MotoServer]:
    """A moto S3 server on 127.0.0.1 and a free port, stopped on exit; over TLS with a self-signed
    certificate when ``tls``."""
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # it logs every request, and bad ones
    server = MotoServer(tls)
    server.start()
    try:
        if auth:
            server.enable_auth()
        yield server
    finally:
        try:
            if auth and server._server is not None:
                server.disable_auth()
        finally:
            server.stop()
            server._folder.cleanup()
