"""A fake identity provider on 127.0.0.1 for the real azure-identity / MSAL code and Databricks M2M.

It speaks, over HTTPS with a self-signed certificate generated at start:

* App Service managed identity (what ``ManagedIdentityCredential`` uses when
  ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER`` are set):
  ``GET /msi/token?api-version=2019-08-01&resource=...[&client_id=...]``;
* IMDS (``AZURE_POD_IDENTITY_AUTHORITY_HOST``): ``GET /metadata/identity/oauth2/token``;
* an Entra authority (``AZURE_AUTHORITY_HOST`` / ``authority=``): OIDC discovery
  ``GET /<tenant>/v2.0/.well-known/openid-configuration`` and
  ``POST /<tenant>/oauth2/v2.0/token`` (client secret or client assertion);
* Databricks OAuth M2M ``POST /oidc/v1/token`` (basic auth), also callable
  in-process via ``databricks_token`` so a fake workspace can delegate to it.

MSAL refuses non-https authorities, hence TLS: point ``REQUESTS_CA_BUNDLE`` (read by
azure-core's requests transport) at ``ca_file``. Tokens are ``tok-<client_id>-<n>``,
``n`` counting fetches per client id; lifetimes are configurable per client id.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SYSTEM_ASSIGNED = "system-assigned"


@dataclass
class TokenRequest:
    """One token issued (or refused), as the server saw it."""

    flow: str  # "app_service" | "imds" | "entra_secret" | "entra_assertion" | "databricks_m2m"
    client_id: str
    scope: str
    status: int
    tenant: str | None = None
    assertion: str | None = None


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[str, int] = field(default_factory=dict)
    requests: list[TokenRequest] = field(default_factory=list)
    expires_in: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    default_expires_in: int = 3600


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` (also the CA to trust) and ``key.pem`` for 127.0.0.1/localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-idp.localhost")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class FakeTokenServer:
    """Start with ``start()`` (or as a context manager); ``base_url`` is ``https://127.0.0.1:<port>``."""

    identity_header = "fake-identity-header"

    def __init__(self, directory: Path | None = None) -> None:
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="fake-idp-")
        self.directory = Path(directory or self._tmp.name)  # type: ignore[union-attr]
        self.state = _State()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_file: Path | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> FakeTokenServer:
        cert, key = make_self_signed_cert(self.directory)
        self.ca_file = cert
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> FakeTokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def app_service_endpoint(self) -> str:
        return f"{self.base_url}/msi/token"

    # -- configuration and inspection -------------------------------------
    def set_expires_in(self, client_id: str, seconds: int) -> None:
        with self.state.lock:
            self.state.expires_in[client_id] = seconds

    def register_secret(self, client_id: str, secret: str) -> None:
        """Require ``secret`` for ``client_id`` (Entra client secret and Databricks M2M)."""
        with self.state.lock:
            self.state.secrets[client_id] = secret

    def refuse(self, client_id: str, status: int = 400) -> None:
        """Answer every managed identity request for ``client_id`` with ``status`` (identity not assigned)."""
        with self.state.lock:
            self.state.refused[client_id] = status

    def fetches(self, client_id: str) -> int:
        with self.state.lock:
            return self.state.counts.get(client_id, 0)

    def requests_for(self, client_id: str) -> list[TokenRequest]:
        with self.state.lock:
            return [r for r in self.state.requests if r.client_id == client_id]

    # -- token issuing (also used in-process by the fake Databricks workspace) --
    def _issue(self, flow: str, client_id: str, scope: str, **extra: Any) -> tuple[str, int]:
        with self.state.lock:
            n = self.state.counts.get(client_id, 0) + 1
            self.state.counts[client_id] = n
            self.state.requests.append(TokenRequest(flow, client_id, scope, 200, **extra))
            lifetime = self.state.expires_in.get(client_id, self.state.default_expires_in)
        return f"tok-{client_id}-{n}", lifetime

    def _refuse(self, flow: str, client_id: str, scope: str, status: int) -> None:
        with self.state.lock:
            self.state.requests.append(TokenRequest(flow, client_id, scope, status))

    def databricks_token(self, authorization: str | None, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Databricks ``/oidc/v1/token``: basic auth, client_credentials, scope all-apis."""
        if not authorization or not authorization.startswith("Basic "):
            return 401, {"error": "invalid_client"}
        client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials" or form.get("scope") != "all-apis":
            self._refuse("databricks_m2m", client_id, form.get("scope", ""), 400)
            return 400, {"error": "invalid_request"}
        with self.state.lock:
            expected = self.state.secrets.get(client_id)
        if expected is not None and secret != expected:
            self._refuse("databricks_m2m", client_id, "all-apis", 401)
            return 401, {"error": "invalid_client"}
        token, lifetime = self._issue("databricks_m2m", client_id, "all-apis")
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": "all-apis"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTokenServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # bound a stuck client

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
        raw = self.rfile.read(length).decode()
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        fake = self.fake
        if url.path == "/msi/token":
            if self.headers.get("X-IDENTITY-HEADER") != fake.identity_header:
                return self._send(401, {"statusCode": 401, "message": "bad identity header"})
            client_id = query.get("client_id", SYSTEM_ASSIGNED)
            with fake.state.lock:
                refused = fake.state.refused.get(client_id)
            if refused is not None:
                fake._refuse("app_service", client_id, query.get("resource", ""), refused)
                return self._send(refused, {"statusCode": refused, "message": "identity not found"})
            token, lifetime = fake._issue("app_service", client_id, query.get("resource", ""))
            return self._send(200, {
                "access_token": token, "expires_on": str(int(time.time()) + lifetime),
                "resource": query.get("resource"), "token_type": "Bearer", "client_id": client_id,
            })
        if url.path == "/metadata/identity/oauth2/token":
            if self.headers.get("Metadata") != "true":
                return self._send(400, {"error": "invalid_request"})
            client_id = query.get("client_id", SYSTEM_ASSIGNED)
            token, lifetime = fake._issue("imds", client_id, query.get("resource", ""))
            return self._send(200, {
                "access_token": token, "expires_in": str(lifetime), "expires_on": str(int(time.time()) + lifetime),
                "resource": query.get("resource"), "token_type": "Bearer",
            })
        parts = url.path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            tenant, base = parts[0], fake.base_url
            return self._send(200, {
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/{tenant}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            })
        self._send(404, {"error": "not_found", "path": url.path})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        form = self._form()
        fake = self.fake
        if url.path == "/oidc/v1/token":
            status, body = fake.databricks_token(self.headers.get("Authorization"), form)
            return self._send(status, body)
        parts = url.path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._entra_token(parts[0], form)
        self._send(404, {"error": "not_found", "path": url.path})

    def _entra_token(self, tenant: str, form: dict[str, str]) -> None:
        fake = self.fake
        client_id, scope = form.get("client_id", ""), form.get("scope", "")
        if form.get("grant_type") != "client_credentials" or not client_id:
            return self._send(400, {"error": "invalid_request"})
        if "client_assertion" in form:
            assertion = form["client_assertion"]
            if not assertion.strip():
                fake._refuse("entra_assertion", client_id, scope, 401)
                return self._send(401, {"error": "invalid_client", "error_description": "empty assertion"})
            token, lifetime = fake._issue("entra_assertion", client_id, scope, tenant=tenant, assertion=assertion)
        else:
            with fake.state.lock:
                expected = fake.state.secrets.get(client_id)
            if expected is not None and form.get("client_secret") != expected:
                fake._refuse("entra_secret", client_id, scope, 401)
                return self._send(401, {"error": "invalid_client", "error_description": "AADSTS7000215"})
            token, lifetime = fake._issue("entra_secret", client_id, scope, tenant=tenant)
        self._send(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                         "access_token": token})
