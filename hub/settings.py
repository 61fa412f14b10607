"""The one settings object of the hub: read once from ``HUB_*`` variables, then passed in.

Every other module receives a :class:`Settings`; none reads the environment itself. The embedded
default keeps all state under ``HUB_HOME`` (``var/`` in the repository), so tests and several
independent instances each get their own folder by setting that one variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Where the hub keeps its state and which back ends it uses."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    home: Path = Field(default=PROJECT_ROOT / "var", description="root of all embedded state")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite under HOME"
    )
    # a hot standby of that PostgreSQL (services tier: written by scripts/services.sh up
    # replica): the API's golden record reads go to it while it lags at most the given seconds
    # (used only with a PostgreSQL database_url of the same database name: storage.replica)
    database_replica_url: str | None = Field(
        default=None, description="SQLAlchemy URL of a streaming replica (reads that may trail)"
    )
    database_replica_max_lag: float = Field(
        default=5.0, gt=0, description="seconds a replica may trail and still serve reads"
    )
    objects: Literal["local", "minio"] = "local"
    objects_dir: Path | None = None
    keys_dir: Path | None = None
    airflow_home: Path | None = None
    contracts_extra: Path | None = Field(
        default=None,
        description="a folder of more dataset contracts (a province's own departments, "
        "their pull sources), read after the project's schemas/contracts",
    )
    # MinIO / S3 (production object store)
    minio_endpoint: str = "127.0.0.1:9000"
    minio_access_key: str = ""
    minio_secret_key: str = ""
    minio_secure: bool = False
    # cryptography profile: "standard" (SHA-256, ECDSA P-256, Ed25519) or "national" (SM2/SM3)
    crypto_profile: Literal["standard", "national"] = "standard"
    # ledger
    ledger_origin: str = "hub.example.gov.cn/log"
    ledger_anchor: Literal["embedded", "fabric"] = "embedded"
    ledger_interval: float = Field(default=1.0, description="sequencer batch interval, seconds")
    ledger_queue_limit: int = 100_000
    # the hub's C2SP witness (it cosigns the checkpoints of the peer logs it watches)
    witness_name: str = "hub.example.gov.cn/witness"
    # how many of a log's known witnesses must have cosigned a receipt's checkpoint for a
    # verdict to pass (0: reports name the cosigners, nothing is required)
    witness_quorum: int = Field(default=0, ge=0)
    # Fabric anchor (production)
    fabric_peer: str = "127.0.0.1:7051"
    fabric_channel: str = "anchors"
    fabric_chaincode: str = "loganchor"
    fabric_msp_id: str = "Org1MSP"
    fabric_tls_ca: Path | None = None
    fabric_cert: Path | None = None
    fabric_key: Path | None = None
    fabric_retry_seconds: float = Field(
        default=30.0,
        description="how long a Fabric call retries an unreachable peer before the checkpoint "
        "stays queued (a one-node Raft needs about 7 s to elect itself after a restart)",
    )
    # Airflow REST API of a running deployment (services tier: written by scripts/services.sh)
    airflow_api_url: str = ""
    airflow_username: str = ""
    airflow_password: str = Field(default="", repr=False)
    # the platform's TSA, OCSP responder and CRLs (`hub licence ltv-serve`, the services tier's
    # `ltv`): certificates the platform CA issues name its OCSP and CRL locations; "" = none
    ltv_url: str = Field(default="", description="base URL of the TSA/OCSP/CRL service")
    # PKCS#11 key store (SoftHSM2 in tests): module path, token label and user PIN
    pkcs11_module: str = ""
    pkcs11_token: str = ""
    pkcs11_pin: str = Field(default="", repr=False)
    # where cloud-signature keys live: PIN-bound envelopes in the database, or the PKCS#11 token
    cloudsign_keys: Literal["envelope", "pkcs11"] = "envelope"
    # HTTP API (`hub serve`): loopback by default; per-client rate limits default to this
    api_host: str = "127.0.0.1"
    api_port: int = 8000  # the Airflow UI of `make airflow` has 8080
    api_rate_limit: float = Field(default=50.0, description="requests/s per client (burst 2x)")
    api_stranger_rate: float = Field(
        default=5.0, description="requests/s per address without a valid key (burst 2x)"
    )
    api_public_rate: float = Field(
        default=1.0, description="public licence look-ups/s per address (bursts of 30)"
    )
    audit_interval: float = Field(
        default=60.0, description="seconds between audit digests appended to the ledger"
    )
    # offline verification: the trust anchors `hub trust install` writes (default HOME/trust)
    # and how old a trust bundle may be before offline verdicts turn INDETERMINATE
    trust_dir: Path | None = None
    verify_max_age_hours: float = Field(default=12.0, gt=0, description="bundle freshness limit")
    # secret that unlocks the embedded key store (encrypted key files under keys_dir): given
    # here, or read from a file outside HOME, or from the PKCS#11 token; none of them set = the
    # demo default keys/master.secret (see storage/keys.py for the threat model)
    key_passphrase: str = Field(default="", repr=False)
    key_passphrase_file: Path | None = None
    key_passphrase_from: Literal["", "pkcs11"] = ""

    @model_validator(mode="after")
    def _key_passphrase_source(self) -> Settings:
        if not self.key_passphrase and (self.key_passphrase_file or self.key_passphrase_from):
            from storage.keys import resolve_passphrase

            self.key_passphrase = resolve_passphrase(self)
        return self

    @property
    def sqlite_path(self) -> Path:
        return self.home / "hub.db"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def objects_path(self) -> Path:
        return self.objects_dir or self.home / "objects"

    @property
    def keys_path(self) -> Path:
        return self.keys_dir or self.home / "keys"

    @property
    def trust_path(self) -> Path:
        return self.trust_dir or self.home / "trust"

    @property
    def airflow_path(self) -> Path:
        return self.airflow_home or self.home / "airflow"

    def ensure_dirs(self) -> None:
        """Create the embedded state folders (idempotent)."""
        for path in (self.home, self.objects_path, self.keys_path, self.airflow_path):
            path.mkdir(parents=True, exist_ok=True)
        self.keys_path.chmod(0o700)


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings
