"""The local OpenID Connect provider (``deploy/local/oidc/provider.mjs``) as a test fixture.

The provider is panva's OpenID-certified ``oidc-provider`` from npm, installed by
``deploy/tools/npm/install.sh`` (``npm ci`` of the pinned lock) the first time a test needs it. It
runs as a real process on a free port with its own key file; ``rotate_keys`` writes a new key set
and restarts it on the same port (what an identity provider's key rotation looks like to us: a new
``kid`` in the JWKS). ``login`` signs a demo person in through the provider's own login form with
the authorization-code flow and PKCE, the way the console does.

If the provider cannot be installed or started the fixture fails loudly (never skips): CI must
exercise real OpenID Connect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.testing.waiting import eventually_sync

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_SCRIPT = REPO_ROOT / "deploy" / "local" / "oidc" / "provider.mjs"
USERS_FILE = REPO_ROOT / "deploy" / "local" / "oidc" / "users.json"
NPM_INSTALL = REPO_ROOT / "deploy" / "tools" / "npm" / "install.sh"
AUDIENCE = "urn:customer360:api"
CONSOLE_CLIENT = "c360-console"
CONSOLE_REDIRECT = "http://127.0.0.1:8004/console/signin"


def demo_directory() -> dict[str, Any]:
    """deploy/local/oidc/users.json: the demo people (username, password, groups) and service clients."""
    data: dict[str, Any] = json.loads(USERS_FILE.read_text())
    return data


def new_key_set(tag: str) -> list[dict[str, Any]]:
    """One RSA and one EC P-256 private JWK, named ``rsa-<tag>`` and ``ec-<tag>``."""
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    for jwk in (rsa_jwk, ec_jwk):
        jwk.pop("key_ops", None)  # PyJWT writes ["sign"]; the provider also verifies its own ID tokens with them
    return [
        {**rsa_jwk, "kid": f"rsa-{tag}", "use": "sig", "alg": "RS256"},
        {**ec_jwk, "kid": f"ec-{tag}", "use": "sig", "alg": "ES256"},
    ]


@dataclass
class LocalOidcProvider:
    """A running ``provider.mjs``; ``issuer`` is its URL. Start with ``start()``, end with ``stop()``."""

    port: int
    work_dir: Path
    redirects: tuple[str, ...] = (CONSOLE_REDIRECT,)
    token_ttl_seconds: int = 300
    process: subprocess.Popen[bytes] | None = None
    kids: list[str] = field(default_factory=list)
    _generation: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keys_file(self) -> Path:
        return self.work_dir / "keys.json"

    def start(self, keys: list[dict[str, Any]] | None = None) -> None:
        """Start with ``keys`` (default: a fresh set) and wait until discovery answers."""
        install = subprocess.run([str(NPM_INSTALL)], capture_output=True, text=True, timeout=600, check=False)
        if install.returncode != 0:
            pytest.fail(f"deploy/tools/npm/install.sh failed ({install.returncode}):\n{install.stderr[-4000:]}",
                        pytrace=False)
        self._generation += 1
        keys = keys if keys is not None else new_key_set(f"g{self._generation}-{secrets.token_hex(3)}")
        self.keys_file.write_text(json.dumps({"keys": keys}))
        self.kids = [key["kid"] for key in keys]
        env = {
            **os.environ,
            "C360_OIDC_PORT": str(self.port),
            "C360_OIDC_KEYS": str(self.keys_file),
            "C360_OIDC_REDIRECTS": ",".join(self.redirects),
            "C360_OIDC_TTL": str(self.token_ttl_seconds),
            "C360_NPM_TOOLS": subprocess.run([str(NPM_INSTALL), "--print"], capture_output=True, text=True,
                                             check=True).stdout.strip(),
        }
        log = (self.work_dir / "provider.log").open("ab")
        self.process = subprocess.Popen(["node", str(PROVIDER_SCRIPT)], env=env, stdout=log, stderr=log,
                                        start_new_session=True)

        def discovery_answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                text = (self.work_dir / "provider.log").read_text(errors="replace")[-4000:]
                pytest.fail(f"the OpenID provider exited ({self.process.returncode}):\n{text}", pytrace=False)
            try:
                answer = httpx.get(f"{self.issuer}/jwks", timeout=2.0)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200 and [k["kid"] for k in answer.json()["keys"]] == self.kids

        eventually_sync(discovery_answers, timeout=30.0, message="the OpenID provider to serve its JWKS")

    def stop(self) -> None:
        """Stop the process (by its pid) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def rotate_keys(self, *, keep_old: bool = True) -> list[str]:
        """Publish a new key set (new kids sign from now on); restart on the same port. Returns the new kids."""
        old = json.loads(self.keys_file.read_text())["keys"]
        fresh = new_key_set(f"g{self._generation + 1}-{secrets.token_hex(3)}")
        self.stop()
        self.start(fresh + (old if keep_old else []))
        return [key["kid"] for key in fresh]

    def client_credentials(self, client_id: str, client_secret: str) -> str:
        """An access token for a service client (client_credentials grant, our audience)."""
        answer = httpx.post(f"{self.issuer}/token", auth=(client_id, client_secret),
                            data={"grant_type": "client_credentials", "resource": AUDIENCE}, timeout=10.0)
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def login(self, username: str, password: str, *, redirect_uri: str = CONSOLE_REDIRECT) -> dict[str, Any]:
        """Sign ``username`` in through the provider's login page (authorization code + PKCE).

        Returns the token response (``access_token``, ``id_token``, ``refresh_token``).
        """
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        with httpx.Client(timeout=10.0, follow_redirects=False) as http:
            answer = http.get(f"{self.issuer}/auth", params={
                "client_id": CONSOLE_CLIENT, "response_type": "code", "redirect_uri": redirect_uri,
                "scope": "openid profile email groups offline_access", "resource": AUDIENCE,
                "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
                "prompt": "consent"})
            answer = _follow(http, answer, stop_at=redirect_uri)
            form = re.search(r'action="([^"]+)"', answer.text)
            assert form is not None, f"no login form: {answer.status_code} {answer.text[:300]}"
            answer = http.post(urljoin(str(answer.url), form.group(1)),
                               data={"username": username, "password": password})
            answer = _follow(http, answer, stop_at=redirect_uri)
            location = str(answer.url) if answer.status_code == 200 else answer.headers.get("location", "")
            if not location.startswith(redirect_uri):
                raise PermissionError(f"sign-in of {username} refused: {answer.status_code} {answer.text[:200]}")
            query = parse_qs(urlparse(location).query)
            assert query["state"] == [state]
            tokens = http.post(f"{self.issuer}/token", data={
                "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri,
                "client_id": CONSOLE_CLIENT, "code_verifier": verifier})
            tokens.raise_for_status()
            result: dict[str, Any] = tokens.json()
            return result


def _follow(http: httpx.Client, answer: httpx.Response, *, stop_at: str) -> httpx.Response:
    """Follow the provider's redirects, keeping its cookies, until a page or our redirect URI."""
    for _ in range(10):
        location = answer.headers.get("location")
        if answer.status_code not in (302, 303) or location is None:
            return answer
        target = urljoin(str(answer.url), location)
        if target.startswith(stop_at):
            return answer
        answer = http.get(target)
    raise AssertionError("too many redirects at the OpenID provider")


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def running_provider(work_dir: Path, port: int) -> Iterator[LocalOidcProvider]:
    """Start a provider for a fixture; stop it (by pid) afterwards."""
    provider = LocalOidcProvider(port=port, work_dir=work_dir)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()

