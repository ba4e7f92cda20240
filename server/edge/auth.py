"""Who may call what: API keys (stored as hashes) and JWTs (HS256, RS256), and the scope map.

No gRPC here: ``Authenticator.authenticate`` takes the call's metadata and returns a
``Principal`` or raises ``AuthError``; the interceptor turns that into a status.

API keys are 32 random bytes, so one SHA-256 is a sound hash (a slow password hash protects
guessable secrets, not random ones). A presented key is hashed and compared with every stored
hash using ``hmac.compare_digest``, without stopping at a match, so the time taken says nothing
about which key (or how much of one) matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml

from server.config import ServerConfig
from server.request_context import Principal

__all__ = [
    "METHOD_SCOPES",
    "PUBLIC_PREFIXES",
    "SCOPES",
    "SUPERVISOR_PRINCIPAL",
    "ApiKey",
    "AuthError",
    "Authenticator",
    "JwtSettings",
    "authenticator_from_config",
    "hash_key",
    "load_keys",
    "new_key",
    "required_scope",
    "save_keys",
]

SCOPES = ("process", "jobs", "admin")
# The principal of a --workers supervisor calling its own workers (job runs, GetStats).
SUPERVISOR_PRINCIPAL = "datalid-supervisor"
KEY_PREFIX = "dlk_"
# Health checks and reflection answer anyone: load balancers and grpcurl need no key.
PUBLIC_PREFIXES = (
    "/grpc.health.v1.Health/",
    # The v2 protocol's health calls, which KServe's and Kubernetes' probes make without keys.
    "/inference.GRPCInferenceService/ServerLive",
    "/inference.GRPCInferenceService/ServerReady",
    "/inference.GRPCInferenceService/ModelReady",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
# Method (or whole service, ending in "/") to the scope it needs; a method in neither this map
# nor PUBLIC_PREFIXES is refused, so a new RPC is closed until someone decides its scope.
METHOD_SCOPES: dict[str, str] = {
    "/datalid.v1.ExpiryDateService/": "process",
    "/datalid.v1.JobService/": "jobs",
    # Integrators read the server's limits (max_image_bytes) before sending images.
    "/datalid.v1.AdminService/GetServerInfo": "process",
    "/datalid.v1.AdminService/ListModels": "admin",
    "/datalid.v1.AdminService/ReloadModels": "admin",
    "/datalid.v1.AdminService/GetStats": "admin",
    # The v2 protocol (server/kserve/): inference, metadata and statistics (perf_analyzer reads
    # them as it measures) as Process; the repository calls reload the models, as ReloadModels.
    "/inference.GRPCInferenceService/": "process",
    "/inference.GRPCInferenceService/RepositoryIndex": "admin",
    "/inference.GRPCInferenceService/RepositoryModelLoad": "admin",
    "/inference.GRPCInferenceService/RepositoryModelUnload": "admin",
}


class AuthError(Exception):
    """Credentials are missing or invalid (UNAUTHENTICATED); ``reason`` goes to the log only."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def required_scope(method: str) -> str | None:
    """The scope ``method`` needs; "" for public methods, None for methods not in the map."""
    if method.startswith(PUBLIC_PREFIXES):
        return ""
    if method in METHOD_SCOPES:
        return METHOD_SCOPES[method]
    return METHOD_SCOPES.get(method[: method.rfind("/") + 1])


@dataclass(frozen=True)
class ApiKey:
    """One entry of the keys file: the key's name, the SHA-256 of the key, its scopes."""

    name: str
    hash: str
    scopes: tuple[str, ...]


def hash_key(key: str) -> str:
    """The stored form of a key: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _check_scopes(scopes: Iterable[str], where: str) -> tuple[str, ...]:
    scopes = tuple(scopes)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"{where}: unknown scopes {unknown}; known: {list(SCOPES)}")
    return scopes


def load_keys(path: Path) -> list[ApiKey]:
    """Reads the keys file (YAML: ``keys: [{name, hash, scopes}]``); a missing file has no keys.

    Raises:
        ValueError: the file is malformed; the message names the file and the entry.
    """
    if not path.exists():
        return []
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from exc
    entries = loaded.get("keys", []) if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a mapping with a 'keys' list")
    keys = []
    for index, entry in enumerate(entries):
        where = f"{path}: keys[{index}]"
        if not isinstance(entry, dict) or not {"name", "hash", "scopes"} <= set(entry):
            raise ValueError(f"{where}: needs name, hash and scopes")
        if not str(entry["hash"]).startswith("sha256:"):
            raise ValueError(f"{where}: hash must be sha256:<hex>")
        keys.append(ApiKey(str(entry["name"]), str(entry["hash"]), _check_scopes(entry["scopes"], where)))
    return keys


def save_keys(path: Path, keys: Sequence[ApiKey]) -> None:
    """Writes the keys file, readable by its owner only."""
    data = {"keys": [{"name": k.name, "hash": k.hash, "scopes": list(k.scopes)} for k in keys]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@dataclass(frozen=True)
class JwtSettings:
    """How JWTs are verified: the keys per algorithm, the required issuer and audience."""

    issuer: str
    audience: str
    hs256_secret: bytes | None = None
    rs256_public_key: str | None = None
    scopes_claim: str = "scope"

    @property
    def algorithms(self) -> list[str]:
        # Only configured algorithms are accepted: an RS256 public key must never be usable as
        # an HS256 secret (the classic algorithm-confusion attack).
        return [alg for alg, key in (("HS256", self.hs256_secret), ("RS256", self.rs256_public_key)) if key]


def _metadata_value(metadata: Iterable[tuple[str, Any]], name: str) -> str | None:
    for key, value in metadata:
        if key == name and isinstance(value, str):
            return value
    return None


class Authenticator:
    """Turns a call's credentials into a ``Principal``.

    Args:
        keys: the API keys (hashes) accepted.
        jwt_settings: how to verify JWTs; None when JWTs are not accepted.
        fixed_keys: keys accepted whatever the keys file says, kept when it is reloaded (a
            supervisor's key for its workers).
    """

    def __init__(
        self,
        keys: Sequence[ApiKey],
        jwt_settings: JwtSettings | None = None,
        fixed_keys: Sequence[ApiKey] = (),
    ) -> None:
        self._fixed = list(fixed_keys)
        self._keys = [*self._fixed, *keys]
        self._jwt = jwt_settings

    @property
    def key_count(self) -> int:
        """How many API keys of the keys file are accepted."""
        return len(self._keys) - len(self._fixed)

    def replace_keys(self, keys: Sequence[ApiKey]) -> None:
        """Accepts ``keys`` from now on instead of the current ones (a keys file reloaded).

        One assignment of a new list: a call being authenticated sees the old list or the new one,
        never a mix.
        """
        self._keys = [*self._fixed, *keys]

    def authenticate(self, metadata: Iterable[tuple[str, Any]]) -> Principal:
        """The principal the credentials in ``metadata`` prove.

        Raises:
            AuthError: no credentials, or credentials that do not verify.
        """
        metadata = list(metadata)
        api_key = _metadata_value(metadata, "x-api-key")
        if api_key is not None:
            return self._from_api_key(api_key.strip())
        authorization = _metadata_value(metadata, "authorization")
        if authorization is None:
            raise AuthError("missing credentials: send x-api-key or authorization: Bearer", "missing")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("invalid credentials", "authorization is not Bearer")
        if self._jwt is not None and token.count(".") == 2:
            return self._from_jwt(token)
        return self._from_api_key(token)

    def _from_api_key(self, key: str) -> Principal:
        presented = hash_key(key).encode()
        found: ApiKey | None = None
        for stored in self._keys:
            # No early exit: every stored hash is compared, whichever matches.
            if hmac.compare_digest(presented, stored.hash.encode()) and found is None:
                found = stored
        if found is None:
            raise AuthError("invalid credentials", "unknown api key")
        return Principal("api_key", found.name, frozenset(found.scopes))

    def _from_jwt(self, token: str) -> Principal:
        assert self._jwt is not None
        settings = self._jwt
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in settings.algorithms:
                raise AuthError("invalid credentials", f"jwt alg {algorithm!r} not accepted")
            key = settings.hs256_secret if algorithm == "HS256" else settings.rs256_public_key
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=settings.audience,
                issuer=settings.issuer,
                options={"require": ["exp", "iss", "aud", "sub"], "verify_nbf": True},
            )
        except jwt.PyJWTError as exc:
            raise AuthError("invalid credentials", f"jwt: {exc}") from exc
        raw = claims.get(settings.scopes_claim, [])
        if isinstance(raw, str):
            scopes = raw.split()
        else:
            scopes = [str(s) for s in raw] if isinstance(raw, list) else []
        return Principal("jwt", str(claims["sub"]), frozenset(s for s in scopes if s in SCOPES))


def jwt_settings_from(
    issuer: str,
    audience: str,
    secret_file: Path | None,
    public_key_file: Path | None,
    scopes_claim: str,
) -> JwtSettings | None:
    """JWT settings from the configured files, or None when neither key is configured."""
    if secret_file is None and public_key_file is None:
        return None
    return JwtSettings(
        issuer=issuer,
        audience=audience,
        hs256_secret=secret_file.read_bytes().strip() if secret_file else None,
        rs256_public_key=public_key_file.read_text() if public_key_file else None,
        scopes_claim=scopes_claim,
    )


def authenticator_from_config(config: ServerConfig) -> Authenticator:
    """The authenticator for the configured keys file and JWT settings.

    Raises:
        ValueError: the keys file or a JWT key file cannot be read.
    """
    keys = load_keys(config.api_keys_file) if config.api_keys_file else []
    try:
        settings = jwt_settings_from(
            config.jwt_issuer,
            config.jwt_audience,
            config.jwt_secret_file,
            config.jwt_public_key_file,
            config.jwt_scopes_claim,
        )
    except OSError as exc:
        raise ValueError(f"JWT key file cannot be read: {exc}") from exc
    supervisor = config.supervisor_key_hash
    fixed = [ApiKey(SUPERVISOR_PRINCIPAL, supervisor, SCOPES)] if supervisor else []
    return Authenticator(keys, settings, fixed)
