"""Bearer tokens: JWTs (RS256 or ES256) checked for signature, issuer, audience and expiry.

The keys come from a JWK set: `CARECOORD_JWKS` names a file or an http(s) URL (fetched with
PyJWT's `PyJWKClient`, which caches the keys). When it is not set, a local ES256 key pair is
used, generated once into `<data>/jwt/` (the private key mode 0600, the public key set beside
it); `carecoord token` signs tokens with it for local use. `CARECOORD_JWT_ISSUER` (default
`carecoord-local`) and `CARECOORD_JWT_AUDIENCE` (default `carecoord-api`) are what tokens must carry.

A token names its caller in `sub` and the caller's role in `role` (see roles.py).

A token that passed is remembered until its `exp` (at most `VERIFIED_TTL_SECONDS`, as long as a
fetched key set is cached): a client sends the same token with every request, and checking its
ES256 signature again each time costs more than the rest of the authentication. After `exp` the
token is checked in full again, so an expired token is refused as before.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from carecoord.api.roles import ROLES
from carecoord.config import JWKS_ENV, ConfigError, Settings, TokenSettings, private_dir

DEFAULT_ISSUER = "carecoord-local"
DEFAULT_AUDIENCE = "carecoord-api"
ALGORITHMS = ("RS256", "ES256")
LOCAL_KEY_DIR = "jwt"
PRIVATE_KEY_FILE = "private-key.pem"
JWKS_FILE = "jwks.json"
VERIFIED_TTL_SECONDS = 300.0
VERIFIED_MAX_TOKENS = 10_000


class AuthenticationError(Exception):
    """No token, or one that cannot be trusted: 401. The message says why, never the token."""


class RoleError(Exception):
    """A trusted token whose role may not do this: 403."""


@dataclass(frozen=True)
class Caller:
    sub: str
    role: str


@dataclass(frozen=True)
class AuthConfig:
    jwks: str  # a file path or an http(s) URL
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    local_key_dir: Path | None = None  # set when the local key pair is used

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> AuthConfig:
        tokens = TokenSettings.from_env(environ)
        issuer = tokens.issuer or DEFAULT_ISSUER
        audience = tokens.audience or DEFAULT_AUDIENCE
        jwks = tokens.jwks
        if jwks:
            return cls(jwks=jwks, issuer=issuer, audience=audience)
        key_dir = settings.data_dir / LOCAL_KEY_DIR
        ensure_local_keys(key_dir)
        return cls(jwks=str(key_dir / JWKS_FILE), issuer=issuer, audience=audience, local_key_dir=key_dir)


class TokenVerifier:
    """Checks a bearer token against the key set and returns its caller."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._client: jwt.PyJWKClient | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        # token -> (its caller, until when it may be trusted without checking it again)
        self._verified: dict[str, tuple[Caller, float]] = {}
        if config.jwks.startswith(("http://", "https://")):
            self._client = jwt.PyJWKClient(config.jwks, cache_keys=True, lifespan=300, timeout=10)
        else:
            try:
                keyset = jwt.PyJWKSet.from_json(Path(config.jwks).read_text())
            except (OSError, jwt.PyJWKSetError, ValueError) as error:
                raise ConfigError(f"{JWKS_ENV}: cannot read the key set {config.jwks}: {error}") from None
            self._keys = {key.key_id or "": key for key in keyset.keys}

    def _key(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:  # DecodeError, and a `kid` that is not text
            raise AuthenticationError(f"the token is not a JWT: {error}") from None
        if not isinstance(header.get("alg"), str) or header["alg"] not in ALGORITHMS:
            raise AuthenticationError(f"token algorithm must be one of {', '.join(ALGORITHMS)}")
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token)
            except jwt.PyJWKClientError as error:
                raise AuthenticationError(f"no key for the token: {error}") from None
        kid = header.get("kid")
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthenticationError(f"the token's key id {kid!r} is not in the key set{self._where()}")
        return key

    def _where(self) -> str:
        """Where the key set is, when it is the local one: a token minted by `carecoord token` with
        another data folder is signed by that folder's key pair."""
        if self.config.local_key_dir is None:
            return ""
        return (
            f" {self.config.jwks} (tokens from `carecoord token` are signed by the key pair in the data "
            "folder it ran with: run it with the server's CARECOORD_DATA)"
        )

    def verify(self, token: str) -> Caller:
        now = time.time()
        known = self._verified.get(token)
        if known is not None:
            if now < known[1]:
                return known[0]
            self._verified.pop(token, None)
        caller, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_MAX_TOKENS:
            self._verified = {t: v for t, v in self._verified.items() if v[1] > now}
            if len(self._verified) >= VERIFIED_MAX_TOKENS:
                self._verified.clear()
        self._verified[token] = (caller, min(expires, now + VERIFIED_TTL_SECONDS))
        return caller

    def _verify(self, token: str) -> tuple[Caller, float]:
        """The token checked in full: its caller, and its `exp`."""
        key = self._key(token)
        algorithm = key.algorithm_name if key.algorithm_name in ALGORITHMS else None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm] if algorithm else list(ALGORITHMS),
                audience=self.config.audience,
                issuer=self.config.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=10,
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(f"the token's audience is not {self.config.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(f"the token's issuer is not {self.config.issuer!r}") from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthenticationError(f"the token has no {error.claim!r} claim") from None
        except (jwt.InvalidTokenError, ValueError, TypeError) as error:
            raise AuthenticationError(f"the token is not valid: {error}") from None
        sub, role = claims.get("sub"), claims.get("role")
        if not isinstance(sub, str) or not sub:
            raise AuthenticationError("the token's 'sub' claim is empty")
        if role not in ROLES:
            raise RoleError(f"the token's role {role!r} is not one of {', '.join(ROLES)}")
        return Caller(sub=sub, role=str(role)), float(claims["exp"])


# --- the local key pair (embedded default) -------------------------------------------------------


def ensure_local_keys(key_dir: Path) -> None:
    """Create the local ES256 key pair once: private key (0600) and its public JWK set."""
    private_path = key_dir / PRIVATE_KEY_FILE
    jwks_path = key_dir / JWKS_FILE
    if not private_path.exists():
        private_dir(key_dir)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:  # created 0600 from the start, never readable by others even briefly
            fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
    if not jwks_path.exists():
        public_jwk = _public_jwk(_load_private_key(private_path))
        tmp = jwks_path.with_suffix(f".{os.getpid()}.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(json.dumps({"keys": [public_jwk]}, indent=2) + "\n")
        tmp.replace(jwks_path)


def _load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path}: expected an EC (P-256) private key")
    return key


def _public_jwk(private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    jwk: dict[str, str] = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    # RFC 7638 thumbprint as the key id: the required members, sorted, no spaces.
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


def mint_local_token(
    config: AuthConfig, role: str, sub: str, ttl: int = 3600, now: float | None = None
) -> str:
    """A token signed by the local key, for local use (`carecoord token`) and tests."""
    if config.local_key_dir is None:
        raise ConfigError(
            f"{JWKS_ENV} is set: tokens come from your identity provider, not from the local key"
        )
    private_key = _load_private_key(config.local_key_dir / PRIVATE_KEY_FILE)
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": sub,
        "role": role,
        "iat": issued,
        "exp": issued + ttl,
    }
    kid = _public_jwk(private_key)["kid"]
    return jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": kid})
