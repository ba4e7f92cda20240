"""The server's one typed configuration object, from flags, DATALID_* variables and a YAML file.

Precedence, highest first: command-line flag, environment variable ``DATALID_<NAME>``, the
``--config`` file (a flat YAML mapping of the same names), the built-in default. Every option
is declared once in ``OPTIONS``; the argument parser, the environment reader and the file
reader are all generated from that table, so the three sources can never drift apart.
Only ``server/__main__.py`` hands real argv and environ in; tests pass their own.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline import DateOrder, DecodeLimits, OcrConfig, PipelineConfig, RuntimeConfig
from server.convert import MAX_DETECTIONS_LIMIT
from server.fetch.fetcher import UrlPolicy
from server.fetch.netpolicy import is_network

__all__ = ["OPTIONS", "ConfigError", "Option", "ServerConfig", "load_config"]

ENV_PREFIX = "DATALID_"


class ConfigError(ValueError):
    """Raised when a configuration value is malformed; the message names the key and value."""


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Settings of one server process. Built once at start-up and passed down."""

    host: str = "127.0.0.1"
    # 0 picks a free port; the server prints the one it bound.
    port: int = 50051
    max_message_bytes: int = 16 * 1024 * 1024
    # The largest options.max_detections a request may ask for; its origin is stated in convert.py.
    max_detections_limit: int = MAX_DETECTIONS_LIMIT
    # In-flight calls get this long to finish after SIGTERM before they are cancelled.
    grace_s: float = 10.0
    log_level: str = "INFO"
    # Where the server writes its process id once it listens (removed when it exits): what a
    # script sends SIGHUP to (kill -HUP "$(cat FILE)") instead of every process of that name.
    pid_file: Path | None = None
    # Prometheus text on http://metrics_host:metrics_port/metrics; 0 picks a free port, -1 turns it
    # off. Loopback whatever ``host`` is: the metrics name every method and caller-visible count,
    # so serving gRPC on 0.0.0.0 must not publish them too.
    metrics_port: int = 9464
    metrics_host: str = "127.0.0.1"
    # Processes serving the gRPC port: 1, this process alone; more, a supervisor runs Envoy on the
    # port in front of that many worker processes (server/supervisor/); 0, one per core (one per
    # GPU where the models run on GPUs).
    workers: int = 0
    # Whether this process keeps the job store and runs jobs (JobService). A supervisor's workers
    # do not: their supervisor does, for all of them (one SQLite file has one owner).
    serve_jobs: bool = True
    # Set by a supervisor for its workers: the hash (auth.hash_key) of the key it calls them with
    # (job runs, GetStats), accepted beside the configured keys and never written to a file.
    supervisor_key_hash: str = ""
    # Share the gRPC port with other processes that also ask for it (SO_REUSEPORT); off, a taken
    # port is a start-up error instead of a silent split of the calls.
    reuse_port: bool = False
    # "required", "disabled", or "" (auto): required when API keys or JWT are configured.
    auth: str = ""
    # Allows auth disabled on a non-loopback address.
    insecure: bool = False
    # TLS on the gRPC port: a PEM certificate chain and its key; with a client CA, callers must
    # present a certificate it signed (mutual TLS). None of them: plaintext.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    api_keys_file: Path | None = None
    # HS256 shared secret and RS256 public key (PEM); either or both turn JWT on.
    jwt_secret_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_scopes_claim: str = "scope"
    # Token bucket per principal (per peer address when anonymous); 0 turns rate limiting off.
    rate_limit_rps: float = 0.0
    rate_limit_burst: int = 20
    # "off", "console" or "otlp" (OTLP over HTTP to otlp_endpoint).
    tracing: str = "off"
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    # Jobs: SQLite file (":memory:" keeps nothing across restarts), concurrency, retention. Empty:
    # one file per user and port (default_job_db_path), so two servers never share one by accident.
    job_db_path: str = ""
    # PostgreSQL instead (postgresql://user:password@host:port/database, or libpq's key=value form):
    # the job store every replica of a cluster shares. Never logged with its password.
    job_store_url: str = field(default="", repr=False)
    # A claimed job's lease: the replica running it renews it every third of this; once it runs out
    # (the replica died) another replica requeues the job. PostgreSQL only.
    job_lease_s: float = 30.0
    job_concurrency: int = 1
    job_ttl_s: float = 7 * 24 * 3600.0
    job_max_attempts: int = 3
    # Per principal, unfinished (queued or running) jobs and their payload bytes; more are refused
    # RESOURCE_EXHAUSTED. A job still queued job_queued_ttl_s after its creation ends FAILED.
    job_max_unfinished_per_principal: int = 100
    job_max_unfinished_bytes_per_principal: int = 256 * 1024 * 1024
    job_queued_ttl_s: float = 24 * 3600.0
    # Per principal (per address when anonymous), WatchJob calls open at once; more are refused
    # RESOURCE_EXHAUSTED. Each holds one job state at most, so this bounds a caller's watchers.
    job_max_watches_per_principal: int = 16
    # Camera streams (StreamFrames).
    stream_max_per_principal: int = 4
    stream_idle_timeout_s: float = 30.0
    stream_fusion_window: int = 8
    # Frames of one stream read but not yet answered (waiting, being read, or answered and not yet
    # sent); while that many wait, the server stops reading the stream (gRPC flow control).
    stream_max_buffered_frames: int = 8
    keepalive_min_ping_interval_s: float = 10.0
    # Transport bounds (server/app.py _transport_options states the memory they bound). gRPC reads a
    # call's whole request message into memory before any of our code runs, so these are what bound
    # the request bytes the server holds, callers with and without credentials alike.
    # RPCs handled at once, streams included; more get RESOURCE_EXHAUSTED at once (grpc.aio sheds).
    max_concurrent_rpcs: int = 64
    # HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused.
    max_streams_per_connection: int = 32
    # Client connections at once; more are closed as they are accepted.
    max_connections: int = 256
    # A connection gets GOAWAY after this long (gRPC adds +-10% jitter), its calls then get
    # max_connection_age_grace_s before it is closed: a call can hold a slot for at most the sum.
    max_connection_age_s: float = 1800.0
    max_connection_age_grace_s: float = 60.0
    # A connection with no call for this long is closed.
    max_connection_idle_s: float = 300.0
    # ProcessBatch.
    batch_max_items: int = 64
    batch_max_bytes: int = 64 * 1024 * 1024
    batch_concurrency: int = 4
    # URL fetching (ProcessUrl and URL jobs): the fetcher's own defaults, stated once there.
    url_allow_http: bool = UrlPolicy.allow_http
    url_allow_hosts: tuple[str, ...] = UrlPolicy.allow_hosts
    url_max_bytes: int = UrlPolicy.max_bytes
    url_timeout_s: float = UrlPolicy.timeout_s
    url_max_redirects: int = UrlPolicy.max_redirects
    url_ca_file: Path | None = UrlPolicy.ca_file
    url_max_concurrent: int = UrlPolicy.max_concurrent
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port!r}")
        if self.max_message_bytes < 1024:
            raise ConfigError(f"max_message_bytes must be >= 1024, got {self.max_message_bytes!r}")
        if not self.pipeline.max_detections <= self.max_detections_limit:
            raise ConfigError(
                f"max_detections_limit must be >= max_detections ({self.pipeline.max_detections}), "
                f"got {self.max_detections_limit!r}"
            )
        if self.grace_s < 0:
            raise ConfigError(f"grace_s must be >= 0, got {self.grace_s!r}")
        if logging.getLevelName(self.log_level) == f"Level {self.log_level}":
            raise ConfigError(f"log_level must be a logging level name, got {self.log_level!r}")
        self._check_edge()

    @property
    def jwt_enabled(self) -> bool:
        """True when a JWT verification key is configured."""
        return self.jwt_secret_file is not None or self.jwt_public_key_file is not None

    @property
    def auth_required(self) -> bool:
        """Whether calls need credentials; auto ("") means: when keys or JWT are configured."""
        if self.auth:
            return self.auth == "required"
        return self.api_keys_file is not None or self.jwt_enabled

    def _check_edge(self) -> None:
        if not -1 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port must be in -1..65535, got {self.metrics_port!r}")
        if not self.metrics_host:
            raise ConfigError("metrics_host must not be empty")
        if self.auth not in ("", "required", "disabled"):
            raise ConfigError(f"auth must be required or disabled, got {self.auth!r}")
        if self.auth == "required" and not (self.api_keys_file or self.jwt_enabled):
            raise ConfigError("auth=required needs api_keys_file or jwt_secret_file/jwt_public_key_file")
        if self.jwt_enabled and not (self.jwt_issuer and self.jwt_audience):
            raise ConfigError("JWT needs jwt_issuer and jwt_audience (both are checked on every token)")
        if not self.auth_required and not _is_loopback(self.host) and not self.insecure:
            raise ConfigError(
                f"auth is disabled and host {self.host!r} is not loopback: configure api_keys_file or "
                "JWT, or pass --insecure true to serve without authentication"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError("TLS needs both tls_cert_file and tls_key_file")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ConfigError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        if self.job_store_url and not self.job_store_url.startswith(
            ("postgresql://", "postgres://", "host=")
        ):
            raise ConfigError(
                "job_store_url must be a PostgreSQL URL (postgresql://...) or libpq key=value string"
            )
        if not 1.0 <= self.job_lease_s <= 3600.0:
            raise ConfigError(f"job_lease_s must be in 1..3600 seconds, got {self.job_lease_s!r}")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (0: one per core), got {self.workers!r}")
        if self.supervisor_key_hash and not self.supervisor_key_hash.startswith("sha256:"):
            raise ConfigError("supervisor_key_hash must be a sha256: hash (set by the supervisor)")
        if self.rate_limit_rps < 0:
            raise ConfigError(f"rate_limit_rps must be >= 0, got {self.rate_limit_rps!r}")
        if self.rate_limit_burst < 1:
            raise ConfigError(f"rate_limit_burst must be >= 1, got {self.rate_limit_burst!r}")
        if self.tracing not in ("off", "console", "otlp"):
            raise ConfigError(f"tracing must be off, console or otlp, got {self.tracing!r}")
        self._check_streams_and_jobs()
        self._check_transport()

    def _check_transport(self) -> None:
        for name in ("max_concurrent_rpcs", "max_streams_per_connection", "max_connections"):
            if not 1 <= getattr(self, name) <= _MAX_GRPC_INT:
                raise ConfigError(f"{name} must be in 1..{_MAX_GRPC_INT}, got {getattr(self, name)!r}")
        # gRPC takes these in milliseconds, as a 32-bit int: at most about 24.8 days.
        for name in ("max_connection_age_s", "max_connection_age_grace_s", "max_connection_idle_s"):
            if not 0 < getattr(self, name) * 1000 <= _MAX_GRPC_INT:
                limit = _MAX_GRPC_INT // 1000
                raise ConfigError(f"{name} must be > 0 and at most {limit} s, got {getattr(self, name)!r}")

    def _check_streams_and_jobs(self) -> None:
        at_least_one = (
            "job_concurrency",
            "job_max_attempts",
            "job_max_unfinished_per_principal",
            "job_max_unfinished_bytes_per_principal",
            "job_max_watches_per_principal",
            "stream_max_per_principal",
            "stream_fusion_window",
            "stream_max_buffered_frames",
            "batch_max_items",
            "batch_max_bytes",
            "batch_concurrency",
            "url_max_bytes",
            "url_max_concurrent",
        )
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in (
            "job_ttl_s",
            "job_queued_ttl_s",
            "stream_idle_timeout_s",
            "keepalive_min_ping_interval_s",
            "url_timeout_s",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.url_max_redirects < 0:
            raise ConfigError(f"url_max_redirects must be >= 0, got {self.url_max_redirects!r}")
        for entry in self.url_allow_hosts:
            if not entry or ("/" in entry and not is_network(entry)):
                raise ConfigError(
                    f"url_allow_hosts: {entry!r} is neither a host name, an IP nor a CIDR network"
                )


# gRPC channel arguments are C ints.
_MAX_GRPC_INT = 2**31 - 1


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _parse_providers(text: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in text.split(",") if p.strip())


def _parse_optional_path(text: str) -> Path | None:
    return Path(text) if text else None


@dataclass(frozen=True)
class Option:
    """One setting: its name (flag ``--name-with-dashes``, variable ``DATALID_NAME``, file key
    ``name``), where it lands (``section`` is "" for ServerConfig, else a PipelineConfig path
    such as "decode"), its parser and its help text."""

    name: str
    parse: Callable[[str], Any]
    help: str
    section: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "address to listen on"),
    Option("port", int, "gRPC port; 0 picks a free one"),
    Option("max_message_bytes", int, "largest request or response message, bytes"),
    Option(
        "max_detections_limit",
        int,
        "largest options.max_detections a request may ask for; more is INVALID_ARGUMENT",
    ),
    Option("grace_s", float, "seconds in-flight calls get to finish on shutdown"),
    Option("log_level", str.upper, "DEBUG, INFO, WARNING or ERROR"),
    Option("pid_file", _parse_optional_path, "write the process id here while serving (for kill -HUP)"),
    Option("metrics_port", int, "Prometheus /metrics port; 0 picks a free one, -1 turns it off"),
    Option("metrics_host", str, "address /metrics listens on (default loopback, whatever --host is)"),
    Option("workers", int, "processes serving the port behind Envoy; 0: one per core (per GPU), 1: this one"),
    Option("serve_jobs", _parse_bool, "keep the job store and run jobs here (a supervisor's workers: false)"),
    Option("supervisor_key_hash", str, "set by --workers' supervisor for its workers; not for people"),
    Option("reuse_port", _parse_bool, "share the gRPC port with other servers (SO_REUSEPORT)"),
    Option("auth", str.lower, "required or disabled (default: required when keys or JWT are configured)"),
    Option("insecure", _parse_bool, "allow auth disabled on a non-loopback address"),
    Option("api_keys_file", _parse_optional_path, "YAML file of API key hashes (python -m server.edge.keys)"),
    Option("tls_cert_file", _parse_optional_path, "PEM certificate chain: the gRPC port serves TLS"),
    Option("tls_key_file", _parse_optional_path, "PEM private key of tls_cert_file"),
    Option("tls_client_ca_file", _parse_optional_path, "PEM CA: callers need a certificate it signed (mTLS)"),
    Option("jwt_secret_file", _parse_optional_path, "file holding the HS256 secret for JWTs"),
    Option("jwt_public_key_file", _parse_optional_path, "PEM public key for RS256 JWTs"),
    Option("jwt_issuer", str, "required iss claim of JWTs"),
    Option("jwt_audience", str, "required aud claim of JWTs"),
    Option("jwt_scopes_claim", str, "JWT claim holding the scopes (space-separated string or list)"),
    Option("rate_limit_rps", float, "sustained calls per second per principal; 0 turns limiting off"),
    Option("rate_limit_burst", int, "calls a principal may make at once (token bucket size)"),
    Option("tracing", str.lower, "off, console or otlp"),
    Option("otlp_endpoint", str, "OTLP/HTTP traces endpoint when tracing=otlp"),
    Option(
        "job_db_path",
        str,
        "SQLite file of the job store (created); :memory: keeps no jobs; "
        "default ~/.local/state/datalid/jobs-PORT.sqlite3",
    ),
    Option(
        "job_store_url",
        str,
        "PostgreSQL URL of a job store shared by replicas (default: SQLite, job_db_path)",
    ),
    Option("job_lease_s", float, "a PostgreSQL job's lease: another replica requeues it once it runs out"),
    Option("job_concurrency", int, "jobs run at once (at lower priority than interactive calls)"),
    Option("job_ttl_s", float, "finished jobs are deleted this many seconds after they end"),
    Option("job_max_attempts", int, "a job the server died running this many times ends FAILED"),
    Option(
        "job_max_unfinished_per_principal", int, "unfinished (queued or running) jobs one caller may have"
    ),
    Option("job_max_unfinished_bytes_per_principal", int, "payload bytes of one caller's unfinished jobs"),
    Option("job_queued_ttl_s", float, "a job still queued this many seconds after creation ends FAILED"),
    Option("job_max_watches_per_principal", int, "concurrent WatchJob calls per caller"),
    Option("stream_max_per_principal", int, "concurrent StreamFrames calls per caller"),
    Option("stream_idle_timeout_s", float, "a stream with no frame for this long is ended"),
    Option("stream_fusion_window", int, "recent frames whose dates vote for a stream's best date"),
    Option(
        "stream_max_buffered_frames",
        int,
        "frames of a stream read but not yet answered; when full the server stops reading it",
    ),
    Option("keepalive_min_ping_interval_s", float, "clients may ping this often, even between calls"),
    Option(
        "max_concurrent_rpcs",
        int,
        "calls handled at once, streams included; more get RESOURCE_EXHAUSTED at once",
    ),
    Option("max_streams_per_connection", int, "HTTP/2 streams one connection may have open"),
    Option("max_connections", int, "client connections at once; more are closed when accepted"),
    Option("max_connection_age_s", float, "a connection gets GOAWAY after this long (+-10%)"),
    Option("max_connection_age_grace_s", float, "calls get this long after GOAWAY before the close"),
    Option("max_connection_idle_s", float, "a connection with no call for this long is closed"),
    Option("batch_max_items", int, "most items in one ProcessBatch call"),
    Option("batch_max_bytes", int, "most image bytes in one ProcessBatch call"),
    Option("batch_concurrency", int, "items of one ProcessBatch call processed at once"),
    Option("url_allow_http", _parse_bool, "allow http:// image URLs (default: https only)"),
    Option("url_allow_hosts", _parse_list, "hosts, IPs or CIDRs URLs may reach though private or loopback"),
    Option("url_max_bytes", int, "largest image fetched from a URL, bytes"),
    Option("url_timeout_s", float, "time limit of a URL fetch, redirects included"),
    Option("url_max_redirects", int, "redirects followed by a URL fetch (each re-checked)"),
    Option("url_ca_file", _parse_optional_path, "extra CA certificates (PEM) trusted for URL fetches"),
    Option("url_max_concurrent", int, "URL fetches in flight at once (calls and jobs); more are refused"),
    Option("max_image_bytes", int, "largest accepted image, bytes", "decode"),
    Option(
        "max_image_pixels", int, "most pixels an image is read at; larger ones are decoded smaller", "decode"
    ),
    Option("max_source_pixels", int, "largest accepted image, pixels (checked from the header)", "decode"),
    Option("min_image_side_px", int, "smallest accepted image side, pixels", "decode"),
    Option("max_image_aspect_ratio", float, "thinnest accepted image, long side over short side", "decode"),
    Option("providers", _parse_providers, "providers allowed, best first: tensorrt,cuda,cpu", "runtime"),
    Option("intra_op_threads", int, "ONNX Runtime threads per session; 0 chooses from the cores", "runtime"),
    Option("tensorrt_fp16", _parse_bool, "let TensorRT run in fp16", "runtime"),
    Option("tensorrt_cache_dir", Path, "where TensorRT engines are cached", "runtime"),
    Option("det_model_name", str, "model repository folder of the OCR text detector (ocr_det)", "ocr"),
    Option("cls_model_name", str, "model repository folder of the OCR angle classifier (ocr_cls)", "ocr"),
    Option("rec_model_name", str, "model repository folder of the OCR recogniser (ocr_rec)", "ocr"),
    Option(
        "coder_det_model_name",
        str,
        "model repository folder of the second chance's coder-print text detector ('' for none)",
        "ocr",
    ),
    Option(
        "det_model_path",
        _parse_optional_path,
        "OCR text-detection ONNX file (default: its repository folder's)",
        "ocr",
    ),
    Option(
        "cls_model_path",
        _parse_optional_path,
        "OCR angle-classifier ONNX file (default: its repository folder's)",
        "ocr",
    ),
    Option(
        "rec_model_path",
        _parse_optional_path,
        "OCR recognition ONNX file (default: its repository folder's)",
        "ocr",
    ),
    Option(
        "rec_dict_path",
        _parse_optional_path,
        "the recognition model's characters, one a line, for a model without 'character' metadata "
        "(default: its repository folder's character_dict, else the model's metadata)",
        "ocr",
    ),
    Option("use_angle_cls", _parse_bool, "classify text-line angle before recognition", "ocr"),
    Option("min_text_score", float, "OCR lines read with less confidence are dropped", "ocr"),
    Option(
        "split_stacked_lines",
        _parse_bool,
        "split a text box that holds two or three printed lines into one box a line before reading it",
        "ocr",
    ),
    Option(
        "curved_lines",
        _parse_bool,
        "box a curved text line (print on a can) along its curve and read it straightened",
        "ocr",
    ),
    Option(
        "grow_cut_lines",
        _parse_bool,
        "grow a text box whose read ends or begins where a date cannot along its line, and read it again",
        "ocr",
    ),
    Option(
        "digit_context_ratio",
        float,
        "a character inside a number is read as the digit, separator or blank that the recogniser "
        "ranks at least this fraction of its first choice (0: off; pipeline/ctc.py)",
        "ocr",
    ),
    Option("detection_confidence", float, "default minimum detector confidence", "pipeline"),
    Option("detection_iou", float, "default NMS IoU threshold", "pipeline"),
    Option("max_detections", int, "default upper bound on detections", "pipeline"),
    Option("full_image_fallback", _parse_bool, "read the whole image when nothing is detected", "pipeline"),
    Option(
        "date_order",
        lambda s: DateOrder(s.upper()),
        "default order of ambiguous dates: DMY|MDY|YMD",
        "pipeline",
    ),
    Option("date_grace_days", int, "a date without a year may lie this many days in the past", "pipeline"),
    Option("date_years_back", int, "printed years this far before today are not dates", "pipeline"),
    Option("date_years_ahead", int, "printed years this far after today are not dates", "pipeline"),
    Option("max_concurrency", int, "worker threads for decoding and model runs; 0: one per core", "pipeline"),
    Option(
        "max_pending_images",
        int,
        "images admitted at once (queued or running); more get RESOURCE_EXHAUSTED; 0 = 4 per core",
        "pipeline",
    ),
    Option(
        "model_repository",
        _parse_optional_path,
        "folder of <model>/config.yaml files (default: the repository's models/)",
        "pipeline",
    ),
    Option(
        "use_detector", _parse_bool, "find date regions before OCR when a detector is present", "pipeline"
    ),
    Option(
        "detector_model_path",
        _parse_optional_path,
        "YOLO date-detector ONNX model (default: models/date_detector/ if it holds one, else none)",
        "pipeline",
    ),
    Option(
        "detection_crop_padding",
        float,
        "detections are widened by this fraction of their height per side before OCR",
        "pipeline",
    ),
    Option(
        "detection_crop_context",
        float,
        "detections are also widened by this many of their heights above and to the left, "
        "so the word naming the date (Use by, EXP) is read with it",
        "pipeline",
    ),
    Option(
        "small_photo_side_px",
        int,
        "a photo whose longer side is under this many pixels, its windows' print small, is read "
        "upscaled to it on the whole-photo fallback (0..4096)",
        "pipeline",
    ),
    Option(
        "small_text_px",
        int,
        "windows' lines under this many pixels high (median) count as small print (0: never upscale)",
        "pipeline",
    ),
    Option(
        "turn_sideways_photos",
        _parse_bool,
        "a photo whose text mostly runs down it (no EXIF orientation, held sideways) is turned "
        "upright and read again",
        "pipeline",
    ),
    Option(
        "turn_upside_down_photos",
        _parse_bool,
        "a photo whose text was mostly read turned by 180 degrees (upside down) is turned and read again",
        "pipeline",
    ),
    Option(
        "second_chance",
        _parse_bool,
        "when the first read finds no date or only a doubtful one, try its digits' second readings, "
        "then read variants of the windows, then of the photo",
        "pipeline",
    ),
    Option(
        "second_chance_max_variants", int, "most second-chance variants tried per image (0..64)", "pipeline"
    ),
    Option(
        "second_chance_window_variants",
        str,
        "the windows' variants, in order: comma-separated, steps joined by + (coder, dots, contrast, "
        "invert, upscale, turn90, turn180, turn270, deskew, flat, neutral)",
        "pipeline",
    ),
    Option(
        "second_chance_photo_variants", str, "the whole photo's variants, in order (as above)", "pipeline"
    ),
    Option(
        "second_chance_text_variants",
        str,
        "then, on a photo read shrunk (most over 2,000 px a side), the variants of windows round its "
        "read's numbered lines, read up close (as above)",
        "pipeline",
    ),
)
_BY_NAME = {option.name: option for option in OPTIONS}
_SECTIONS: dict[str, type] = {"decode": DecodeLimits, "runtime": RuntimeConfig, "ocr": OcrConfig}


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="Datalid gRPC server. Every flag is also read from DATALID_<NAME> and the --config file.",
    )
    parser.add_argument("--config", type=Path, help="YAML file of settings (flat mapping of the names below)")
    for option in OPTIONS:
        # Flags stay strings here so that each source goes through the same parser below.
        # argparse formats help with %: a literal one in a description (e.g. "+-10%") must be doubled.
        help_text = option.help.replace("%", "%%")
        parser.add_argument(option.flag, dest=option.name, metavar=option.name.upper(), help=help_text)
    return parser


def _read_file(path: Path) -> dict[str, str]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of setting names to values")
    unknown = sorted(set(loaded) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"config file {str(path)!r} has unknown keys {unknown}; known: {sorted(_BY_NAME)}")
    return {key: "" if value is None else _yaml_scalar(value) for key, value in loaded.items()}


def _yaml_scalar(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _merge_sources(
    flags: argparse.Namespace, environ: Mapping[str, str], file_values: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """For each option that is set anywhere: (raw text, where it came from), highest precedence wins."""
    merged: dict[str, tuple[str, str]] = {}
    for option in OPTIONS:
        flag_value = getattr(flags, option.name)
        if flag_value is not None:
            merged[option.name] = (flag_value, option.flag)
        elif option.env in environ:
            merged[option.name] = (environ[option.env], option.env)
        elif option.name in file_values:
            merged[option.name] = (file_values[option.name], f"config file key {option.name!r}")
    return merged


def _parse_values(raw: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (text, source) in raw.items():
        try:
            values[name] = _BY_NAME[name].parse(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: invalid value {text!r} ({exc})") from exc
    return values


def _build(values: Mapping[str, Any]) -> ServerConfig:
    by_section: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        by_section.setdefault(_BY_NAME[name].section, {})[name] = value
    pipeline_fields = dict(by_section.get("pipeline", {}))
    for section, cls in _SECTIONS.items():
        pipeline_fields[section] = cls(**by_section.get(section, {}))
    return ServerConfig(**by_section.get("", {}), pipeline=PipelineConfig(**pipeline_fields))


def default_job_db_path(port: int, home: Path | None = None) -> str:
    """The job database of a server on ``port`` when ``job_db_path`` is not set:
    ``~/.local/state/datalid/jobs-PORT.sqlite3``. Per port, because one file shared by two servers
    on one machine would have both run its jobs; ``:memory:`` for port 0, whose port (and so its
    jobs' home) changes with every start."""
    if port == 0:
        return ":memory:"
    return str((home or Path.home()) / ".local" / "state" / "datalid" / f"jobs-{port}.sqlite3")


def load_config(argv: Sequence[str], environ: Mapping[str, str]) -> ServerConfig:
    """Build the configuration from command-line arguments, environment and optional file.

    Raises:
        ConfigError: a value is malformed or out of range; the message names the key and value.
        SystemExit: argparse rejected the command line (unknown flag, ``--help``).
    """
    flags = _argument_parser().parse_args(list(argv))
    env_config = environ.get(ENV_PREFIX + "CONFIG")
    config_path = flags.config or (Path(env_config) if env_config else None)
    file_values = _read_file(config_path) if config_path else {}
    values = _parse_values(_merge_sources(flags, environ, file_values))
    try:
        return _build(values)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from exc


def describe(config: ServerConfig) -> dict[str, Any]:
    """The configuration as a flat JSON-friendly mapping, for the start-up log line."""
    return dataclasses.asdict(config)
