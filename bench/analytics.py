"""Analytics reports over 100k stored messages (50k questions, 50k answers), through the real API.

    .venv/bin/python -m bench.analytics                       # SQLite
    .venv/bin/python -m bench.analytics --postgres            # PostgreSQL on 127.0.0.1:5432

Questions are the manpages queries (1,160 intents), drawn with Zipf frequencies (support traffic
repeats) and phrased six ways, so the window holds a few thousand distinct phrasings. Each question
has the embedding its search would have stored (the real encoder), an answer with a relevance,
1-3 cited documents; 5 % of answers are rated, 500 leads. Prints the median of 5 calls per report
and the ratio of top-questions to the baseline a plain dashboard runs: an exact-text SQL GROUP BY.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from bench.common import load_corpus, scratch_settings

VARIANTS = (
    lambda q: q,
    lambda q: q.lower(),
    lambda q: q.rstrip("?"),
    lambda q: "hi, " + q[0].lower() + q[1:],
    lambda q: q + " please",
    lambda q: "quick question: " + q[0].lower() + q[1:],
)


def _queries() -> list[str]:
    import json

    from bench.common import DATA

    with open(DATA / "manpages" / "queries.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def populate(sessions, embedder, questions: int, seed: int = 0) -> str:
    from backend.db.models import (
        Citation,
        Conversation,
        Document,
        Feedback,
        KnowledgeBase,
        Lead,
        Message,
        QuestionVector,
    )

    rng = random.Random(seed)
    intents = _queries()
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(intents))]
    asked = [VARIANTS[rng.randrange(6)](q) for q in rng.choices(intents, weights, k=questions)]
    distinct = sorted(set(asked))
    started = time.perf_counter()
    vectors = dict(zip(distinct, embedder.embed_queries(distinct), strict=True))
    print(
        f"{len(asked)} questions, {len(distinct)} distinct phrasings (encoded in {time.perf_counter() - started:.0f} s)"
    )
    kb_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    docs = [str(uuid.uuid4()) for _ in load_corpus("manpages")]
    with sessions.begin() as session:
        session.add(KnowledgeBase(id=kb_id, name=f"bench-{kb_id[:8]}"))
        session.flush()
        session.execute(
            insert(Document),
            [
                {
                    "id": d,
                    "kb_id": kb_id,
                    "title": f"doc {i}",
                    "content_type": "text/plain",
                    "content_hash": d,
                    "size_bytes": 1,
                    "source": "",
                }
                for i, d in enumerate(docs)
            ],
        )
    rows: dict[str, list[dict]] = {k: [] for k in ("conv", "msg", "vec", "cite", "fb")}
    for i, text in enumerate(asked):
        when = now - timedelta(seconds=rng.uniform(0, 29 * 86400))
        cid, qid, aid = (str(uuid.uuid4()) for _ in range(3))
        relevance = rng.uniform(0.05, 0.8)
        rows["conv"].append({"id": cid, "kb_id": kb_id, "channel": "widget", "created_at": when})
        rows["msg"].append(
            {
                "id": qid,
                "conversation_id": cid,
                "kb_id": kb_id,
                "role": "user",
                "content": text,
                "citations": [],
                "meta": {},
                "created_at": when,
            }
        )
        rows["msg"].append(
            {
                "id": aid,
                "conversation_id": cid,
                "kb_id": kb_id,
                "role": "assistant",
                "content": "an answer [1]",
                "citations": [],
                "meta": {},
                "reply_to": qid,
                "relevance": relevance,
                "grounded": relevance >= 0.3,
                "created_at": when + timedelta(seconds=2),
            }
        )
        rows["vec"].append(
            {
                "message_id": qid,
                "model_id": embedder.model_id,
                "vector": np.asarray(vectors[text], dtype=np.float16).tobytes(),
            }
        )
        if relevance >= 0.3:
            for d in set(rng.choices(docs[:400], k=rng.randint(1, 3))):
                rows["cite"].append({"message_id": aid, "document_id": d, "kb_id": kb_id, "created_at": when})
        if rng.random() < 0.05:
            rows["fb"].append(
                {
                    "id": str(uuid.uuid4()),
                    "message_id": aid,
                    "rating": "up" if relevance > 0.4 else "down",
                    "created_at": when,
                }
            )
        if i % 5000 == 4999 or i == len(asked) - 1:
            with sessions.begin() as session:
                for model, key in (
                    (Conversation, "conv"),
                    (Message, "msg"),
                    (QuestionVector, "vec"),
                    (Citation, "cite"),
                    (Feedback, "fb"),
                ):
                    if rows[key]:
                        session.execute(insert(model), rows[key])
                    rows[key] = []
    with sessions.begin() as session:
        session.execute(
            insert(Lead),
            [
                {
                    "id": str(uuid.uuid4()),
                    "kb_id": kb_id,
                    "email": f"v{i}@example.com",
                    "created_at": now - timedelta(hours=i),
                }
                for i in range(500)
            ],
        )
        total = session.scalar(select(func.count()).select_from(Message).where(Message.kb_id == kb_id))
    print(f"stored {total} messages in {time.perf_counter() - started:.0f} s")
    return kb_id


def _median_ms(call, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=50_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    from backend.api.app import create_app
    from backend.db.models import Message
    from backend.services import load_embedder

    database = {}
    if args.postgres:
        name = f"kbchat_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        database = {"url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"}
    settings = scratch_settings(database=database, worker={"embedded": False})
    embedder = load_embedder(settings)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers["Authorization"] = "Bearer bench-token-0123456789"
        services = client.app.state.services
        kb_id = populate(services.sessions, embedder, args.questions)

        def naive() -> list:
            with services.sessions() as session:
                key = func.lower(Message.content)
                since = datetime.now(UTC) - timedelta(days=30)
                return session.execute(
                    select(key, func.count())
                    .where(Message.kb_id == kb_id, Message.role == "user", Message.created_at >= since)
                    .group_by(key)
                    .order_by(func.count().desc())
                    .limit(50)
                ).all()

        baseline = _median_ms(naive)
        print(f"{'backend':>10} {'SQLite' if not args.postgres else 'PostgreSQL'}")
        print(f"{'baseline':>16}: exact-text GROUP BY top 50: {baseline:8.1f} ms")
        results = {}
        for report in ("summary", "top-questions", "content-gaps", "sources", "feedback", "leads"):
            url = f"/v1/knowledge-bases/{kb_id}/analytics/{report}"
            first = client.get(url)
            assert first.status_code == 200, first.text
            results[report] = _median_ms(lambda url=url: client.get(url).raise_for_status())
            extra = ""
            if report == "top-questions":
                top = first.json()["data"]
                extra = f"  ({baseline and results[report] / baseline:.1f}x baseline; top group {top[0]['count']} asks: {top[0]['label'][:50]!r})"
            print(f"{report:>16}: {results[report]:8.1f} ms{extra}")
        csv_ms = _median_ms(
            lambda: client.get(
                f"/v1/knowledge-bases/{kb_id}/analytics/top-questions", params={"format": "csv"}
            ).raise_for_status()
        )
        print(f"{'top-questions csv':>16}: {csv_ms:8.1f} ms")
    if args.postgres:  # leave the server as we found it
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
