"""What the service measures about itself, beyond HTTP: one :class:`Telemetry` per
:class:`~backend.services.Services`, read by ``GET /metrics`` (the API process) and by the worker's own
metrics port, so every process exposes the same names.

- search: time per stage of every search (HTTP search, chat, the OpenAI-compatible route), the wait
  for the process's search lane, and where the scored sentences' vectors came from;
- chat: turns by provider and outcome, time to first token and in all, tokens in and out, each provider
  failure (a retry or a fall to the next provider) and turns a later provider answered;
- jobs: finished jobs by kind and outcome (with the stage a failure happened in), batch durations;
- ingestion: documents and chunks stored (``rate()`` gives per second), chunks embedded vs reused;
- encoder: batch sizes and forward-pass time of document encoding;
- sources: syncs by connector and status, items per outcome and requests made.

Rate-limit rejections are the HTTP counter's ``status="429"`` series; queue depth and running jobs'
progress (fine-tuning, re-indexing) are read from the database when scraped (backend/api/metrics.py).
Labels hold only bounded values (provider names from the configuration, job kinds, stages), never a
visitor's text; the one id is a *running* job's on its progress gauge (a handful of series at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from backend.db.models import Job, JobStatus

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
JOB_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class QueueCollector(Collector):
    """Jobs by kind and status, counted in the database when scraped."""

    def __init__(self, sessions: Callable[[], Any]) -> None:
        self.sessions = sessions
        """The service's session factory, once it runs (the app builds its services at start-up)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "kbchat_jobs", "Jobs in the queue by kind and status.", labels=["kind", "status"]
        )
        progress = GaugeMetricFamily(
            "kbchat_job_progress",
            "Progress (0-1) of each running job: fine-tuning, re-indexing, uploads.",
            labels=["kind", "job_id", "stage"],
        )
        with self.sessions()() as session:
            rows = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status))
            for kind, status, count in rows:
                family.add_metric([kind, getattr(status, "value", str(status))], count)
            running = session.execute(
                select(Job.kind, Job.id, Job.stage, Job.progress).where(Job.status == JobStatus.RUNNING)
            )
            for kind, job_id, stage, value in running:  # few at a time: one series per running job
                progress.add_metric([kind, job_id, stage or ""], value or 0.0)
        yield family
        yield progress


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.search_stage = Histogram(
            "kbchat_search_stage_seconds",
            "Time per stage of a search.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.search_queue = Histogram(
            "kbchat_search_queue_seconds",
            "Time a search waited for room in the process's search lane (KBCHAT_SEARCH_CONCURRENCY).",
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.search_sentences = Counter(
            "kbchat_search_sentences",
            "Sentences a search scored, by where their vectors came from: stored (with the chunk, at "
            "ingestion), cache, or encoded (the slow path).",
            ["source"],
            registry=r,
        )
        self.chat_turns = Counter(
            "kbchat_chat_turns",
            "Chat turns by the provider that answered and outcome.",
            ["provider", "outcome"],
            registry=r,
        )
        self.chat_first_token = Histogram(
            "kbchat_chat_first_token_seconds",
            "From the question to the answer's first token.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.chat_duration = Histogram(
            "kbchat_chat_duration_seconds",
            "A whole chat turn.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.chat_tokens = Counter(
            "kbchat_chat_tokens",
            "Tokens the provider reported, in and out.",
            ["provider", "direction"],
            registry=r,
        )
        self.provider_failures = Counter(
            "kbchat_llm_provider_failures",
            "Failed provider calls (each retry counts).",
            ["provider"],
            registry=r,
        )
        self.fallback_turns = Counter(
            "kbchat_chat_fallback_turns",
            "Turns answered by a provider after an earlier one in the chain failed.",
            ["provider"],
            registry=r,
        )
        self.jobs_finished = Counter(
            "kbchat_jobs_finished",
            "Jobs a worker finished, by kind, outcome (succeeded, failed: retried, invalid: not retried, "
            "lost: taken over) and the stage it was in.",
            ["kind", "outcome", "stage"],
            registry=r,
        )
        self.job_batch = Histogram(
            "kbchat_job_batch_seconds",
            "Time a worker spent on one job or batch.",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.ingested_documents = Counter("kbchat_ingested_documents", "Documents stored.", registry=r)
        self.source_items = Counter(
            "kbchat_source_items",
            "Items of synced sources by connector and outcome (added, changed, unchanged, failed, missing, "
            'removed), and HTTP requests made (outcome="requests").',
            ["connector", "outcome"],
            registry=r,
        )
        self.source_syncs = Counter(
            "kbchat_source_syncs",
            "Source syncs by connector and status.",
            ["connector", "status"],
            registry=r,
        )
        self.ingested_chunks = Counter(
            "kbchat_ingested_chunks",
            "Chunks stored: embedded now or reused unchanged.",
            ["source"],
            registry=r,
        )
        self.encoder_batch = Histogram(
            "kbchat_encoder_batch_size",
            "Texts per document-encoding call.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.encoder_forward = Histogram(
            "kbchat_encoder_forward_seconds",
            "Time of one document-encoding call.",
            buckets=(*STAGE_BUCKETS, 5, 10, 30),
            registry=r,
        )

    def sentences_scored(self, source: str, n: int) -> None:
        if n:
            self.search_sentences.labels(source).inc(n)

    def observe_search(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.search_stage.labels(stage).observe(ms / 1000)

    def chat_answered(
        self,
        provider: str,
        *,
        answered: bool,
        first_token_s: float,
        total_s: float,
        usage: tuple[int, int],
        failures: list[dict[str, str]],
    ) -> None:
        """A finished turn. ``answered``: passages cleared the gate (else chat said it could not find it)."""
        self.chat_turns.labels(provider, "answered" if answered else "refused").inc()
        self.chat_first_token.labels(provider).observe(first_token_s)
        self.chat_duration.labels(provider).observe(total_s)
        self.chat_tokens.labels(provider, "in").inc(usage[0])
        self.chat_tokens.labels(provider, "out").inc(usage[1])
        self._failures(failures)
        if failures:
            self.fallback_turns.labels(provider).inc()

    def chat_failed(self, failures: list[dict[str, str]]) -> None:
        """A turn every provider of the chain failed."""
        self._failures(failures)
        self.chat_turns.labels("", "error").inc()

    def _failures(self, failures: list[dict[str, str]]) -> None:
        for failure in failures:
            self.provider_failures.labels(failure["provider"]).inc()

    def job_finished(self, kind: str, outcomes: list[tuple[str, str]], seconds: float) -> None:
        """One job or batch of ``kind``: each job's (outcome, stage), and the time the batch took."""
        self.job_batch.labels(kind).observe(seconds)
        for outcome, stage in outcomes:
            self.jobs_finished.labels(kind, outcome, stage).inc()

    def stored(self, documents: int, embedded: int, reused: int) -> None:
        self.ingested_documents.inc(documents)
        self.ingested_chunks.labels("embedded").inc(embedded)
        self.ingested_chunks.labels("reused").inc(reused)

    def synced(self, connector: str, status: str, counts: dict[str, int]) -> None:
        self.source_syncs.labels(connector, status).inc()
        for outcome, count in counts.items():
            self.source_items.labels(connector, outcome).inc(count)

    def encoded(self, texts: int, seconds: float) -> None:
        self.encoder_batch.observe(texts)
        self.encoder_forward.observe(seconds)
