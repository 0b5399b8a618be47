"""Settings from one place: environment variables with the ``NLPIPE_`` prefix (or a ``.env`` file).

Obtain them with :func:`get_settings` and pass them down; nothing reads the environment elsewhere.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nlpipe.errors import ConfigError

MB = 1024 * 1024
#: Settings whose values are secrets: an error about them never repeats the value.
SECRET_SETTINGS = frozenset({"api_keys", "database_url"})
#: Default of NLPIPE_MAX_MODEL_BYTES: the largest model file, and the most a skops file may unpack to.
DEFAULT_MAX_MODEL_BYTES = 512 * MB


class Settings(BaseSettings):
    """Every setting nlpipe reads. Each field is the variable ``NLPIPE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="NLPIPE_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".nlpipe"), description="Folder for the SQLite database and stored originals.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the database; default: a SQLite file in NLPIPE_HOME."
    )
    models_dir: Path = Field(default=Path("models"), description="Folder holding models/<name>/<version>/.")
    seed: int = Field(default=0, description="Seed for splits, model search and training.")
    test_fraction: float = Field(default=0.2, description="Share of documents put in the test split at import.")
    time_budget: float = Field(default=120.0, description="Default seconds the model search may spend.")
    max_document_bytes: int = Field(default=10 * MB, description="Largest document accepted, in bytes.")
    max_pages: int = Field(default=2000, description="Most pages read from one PDF.")
    max_archive_members: int = Field(default=10_000, description="Most files read from one archive.")
    max_archive_bytes: int = Field(
        default=2048 * MB, description="Most bytes an archive may unpack to, all members together."
    )
    max_compression_ratio: float = Field(
        default=200.0, description="Largest uncompressed:compressed ratio of an archive member (zip bomb guard)."
    )
    ocr: str = Field(default="auto", description="OCR of PDF pages without a text layer: auto, always or never.")
    ocr_lang: str = Field(default="eng", description="Tesseract language(s), e.g. eng or eng+deu.")
    ocr_dpi: int = Field(default=300, description="Resolution pages are rendered at for OCR.")
    ocr_workers: int = Field(default=0, description="OCR worker processes; 0 means one per CPU core.")
    max_request_bytes: int = Field(default=32 * MB, description="Largest HTTP request body the API accepts, in bytes.")
    max_batch_texts: int = Field(default=1000, description="Most texts one predict request may carry.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="API keys with every scope (JSON list or comma-separated), besides those `nlpipe keys create` "
        "stores; an entry NAME:KEY names the annotator who uses the key.",
    )
    anonymous_predict: bool = Field(
        default=False,
        description="Let callers without a key use the predict routes once keys exist (before any key exists they "
        "are open anyway).",
    )
    metrics_public: bool = Field(
        default=False,
        description="Serve GET /metrics without a key (for a Prometheus scraper on a private network); otherwise it "
        "needs a key with the read scope.",
    )
    rate_limit: float = Field(
        default=0.0,
        ge=0,
        description="Requests per second each API key may send on average (callers without a key: each client "
        "address); more get 429 E616 with Retry-After. 0: no limit.",
    )
    rate_limit_burst: int = Field(
        default=0,
        ge=0,
        description="Requests a key may send at once before NLPIPE_RATE_LIMIT applies (0: one second's worth).",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where rate-limit counts are kept: memory:// (each server process counts alone) or a storage "
        "URI of the limits library shared by workers and replicas, such as redis://HOST:6379.",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="`nlpipe serve`'s log lines: json (one object per line), text, or auto (text when stderr is a "
        "terminal, else json).",
    )
    max_model_bytes: int = Field(
        default=DEFAULT_MAX_MODEL_BYTES,
        gt=0,
        description="Largest model file loaded, in bytes; also the most a skops model file may unpack to, all its "
        "members together.",
    )
    max_loaded_models: int = Field(
        default=8, gt=0, description="Most model versions the API server keeps loaded (least recently used dropped)."
    )
    max_loaded_model_bytes: int = Field(
        default=0,
        ge=0,
        description="Most memory the API server's loaded model versions may take, as measured when each loaded "
        "(least recently used dropped past it; the last one is always kept); 0: no cap.",
    )
    model_refresh_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How often the API server checks the models' aliases: a promote or rollback is served within "
        "this (the new version loaded first); 0: never (a restart picks them up).",
    )
    stale_temp_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Age after which an unfinished model folder (.tmp-*) no process is writing is swept.",
    )
    host: str = Field(default="127.0.0.1", description="Address `nlpipe serve` binds to.")
    port: int = Field(default=8000, description="Port `nlpipe serve` listens on.")
    workers: int = Field(
        default=1, ge=1, description="Server processes `nlpipe serve` runs on its port, each with the serving models."
    )
    shutdown_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds `nlpipe serve` lets requests in flight finish after SIGTERM before it closes them.",
    )
    # Serving: the API stays responsive (work off the event loop, bounded; connections and hosts checked)
    max_concurrent_requests: int = Field(
        default=4,
        ge=1,
        description="Heavy API requests (predict, predictFile, uploads with wait=true) worked on at "
        "once, each in a worker thread; more wait in a queue.",
    )
    max_queued_requests: int = Field(
        default=64,
        ge=0,
        description="Heavy API requests that may wait for a free slot; more get 503 E610 with Retry-After.",
    )
    request_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds a heavy API request may take, waiting included; past it 504 E611 "
        "and its work stops at its next step (between OCR pages, documents, prediction batches).",
    )
    max_ocr_pages: int = Field(
        default=200,
        ge=0,
        description="Most pages OCR'd for one API request (predictFile, upload with wait=true); "
        "more is E612 naming the file. Upload jobs (wait=false) and the CLI are not capped.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host header values the API answers (comma-separated; *.example.com for subdomains, * for any); "
        "default: localhost, 127.0.0.1 and ::1 when NLPIPE_HOST is a loopback address, else any.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose web pages may call the API from a browser (CORS; comma-separated, such as "
        "https://app.example.com; * for any); default: none, so browsers let no other site's page read answers.",
    )
    header_timeout: float = Field(
        default=10.0, gt=0, description="Seconds `nlpipe serve` waits for a new connection's request headers."
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds the API waits for the next part of a request body (as nginx's client_body_timeout); "
        "a client that stalls longer gets 408 E615 and the connection is closed.",
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, description="Seconds `nlpipe serve` keeps an idle keep-alive connection open."
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open connections and requests `nlpipe serve` holds; more get 503."
    )
    # Batch jobs over HTTP (POST /v1/batch)
    max_batch_upload_bytes: int = Field(
        default=2048 * MB,
        gt=0,
        description="Largest input uploaded to POST /v1/batch, in bytes (all its files together); it is streamed "
        "to disk under NLPIPE_HOME, and a larger one is refused with 413 E873.",
    )
    max_batch_archive_members: int = Field(
        default=10_000_000,
        gt=0,
        description="Most files a batch run (nlpipe batch predict, POST /v1/batch) reads from one archive; batch "
        "reads archives as streams, so this is far above NLPIPE_MAX_ARCHIVE_MEMBERS.",
    )
    max_batch_archive_bytes: int = Field(
        default=256 * 1024 * MB,
        gt=0,
        description="Most bytes a batch run reads from one archive, all members together (each member is still "
        "one document, under NLPIPE_MAX_DOCUMENT_BYTES and the compression-ratio guard).",
    )
    batch_root: Path | None = Field(
        default=None,
        description="Folder whose files POST /v1/batch may read by a server-side `path` (resolved, symlinks "
        "included, it must stay inside); unset: server-side paths are refused (E870).",
    )
    max_batch_jobs: int = Field(
        default=2,
        ge=1,
        description="Batch jobs one API server runs at once, each in a worker process of its own; more wait "
        "as pending.",
    )

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _split_hosts(cls, v: object) -> object:
        return [h.strip() for h in v.split(",") if h.strip()] if isinstance(v, str) else v

    @property
    def trusted_hosts(self) -> list[str]:
        """The Host header values the API answers: NLPIPE_ALLOWED_HOSTS, else the loopback names when bound to a
        loopback address (no DNS rebinding of a local server), else any ("*")."""
        if self.allowed_hosts:
            return [h.lower() for h in self.allowed_hosts]
        if self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127."):
            return ["localhost", "127.0.0.1", "::1", self.host.lower()]
        return ["*"]

    @field_validator("test_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("must be between 0 and 1 (exclusive)")
        return v

    @field_validator("ocr")
    @classmethod
    def _ocr_mode(cls, v: str) -> str:
        if v not in ("auto", "always", "never"):
            raise ValueError("must be auto, always or never")
        return v

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, v: object) -> object:
        if isinstance(v, str):
            if v.strip().startswith("["):
                import json

                try:
                    return json.loads(v)
                except ValueError:  # the decoder's message quotes the text: say where, not what
                    raise ValueError("starts with '[' but is not a JSON list of strings") from None
            return [k.strip() for k in v.split(",") if k.strip()]
        return v

    @property
    def api_key_names(self) -> dict[str, str | None]:
        """Each API key with the annotator name it carries: ``alice:key1`` -> {"key1": "alice"}; plain keys -> None."""
        out: dict[str, str | None] = {}
        for entry in self.api_keys:
            name, sep, key = entry.partition(":")
            if sep and name.strip() and key.strip():
                out[key.strip()] = name.strip()
            else:
                out[entry] = None
        return out

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'nlpipe.db').resolve()}"


def _problem(loc: tuple[int | str, ...], msg: str, value: object) -> str:
    """One setting's problem for the E001 message; the value is quoted unless the setting holds secrets."""
    field = str(loc[0]) if loc else ""
    where = f"NLPIPE_{field.upper()}" + (f" entry {loc[1]}" if len(loc) > 1 else "")
    if field in SECRET_SETTINGS:
        return f"{where}: {msg} (value not shown: it holds secrets)"
    return f"{where}: {msg}" + (f" (got {value!r})" if value is not None else "")


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment, read once; a bad value raises a coded error naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [_problem(e["loc"], e["msg"], e.get("input")) for e in exc.errors()]
        raise ConfigError(
            "E001", "Invalid setting: " + "; ".join(problems), field=str(exc.errors()[0]["loc"][0])
        ) from exc
