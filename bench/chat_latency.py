"""Chat latency: what kbchat adds on top of retrieval, with an LLM that answers instantly.

A real ``kbchat`` HTTP server (uvicorn on loopback, python-faq ingested) whose knowledge base answers
through an OpenAI-compatible provider on loopback that streams its answer with no delay. For 1, 8
and 32 concurrent clients it measures, over HTTP:
- ``POST /search`` (retrieval alone: the baseline, same queries, same concurrency);
- ``POST /chat`` with ``stream: true``: time to the first ``token`` event, and to ``done``.
Time to first token minus search time is what the chat path adds (history, prompt packing, the
provider round trip, SSE).

    .venv/bin/python -m bench.chat_latency
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import threading
import time

import httpx
import uvicorn

from bench.common import document_text, load_corpus, load_queries, percentile, scratch_settings
from tests.llm_server import LLMServer

TOKEN = "bench-token-0123456789"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _search(client: httpx.AsyncClient, kb: str, query: str) -> float:
    started = time.perf_counter()
    (
        await client.post(f"/v1/knowledge-bases/{kb}/search", json={"query": query, "top_k": 5})
    ).raise_for_status()
    return (time.perf_counter() - started) * 1000


async def _chat(client: httpx.AsyncClient, kb: str, query: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = 0.0
    async with client.stream(
        "POST", f"/v1/knowledge-bases/{kb}/chat", json={"message": query, "stream": True}
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not first and line.startswith("event: token"):
                first = (time.perf_counter() - started) * 1000
            if line.startswith("event: done"):
                break
    return first, (time.perf_counter() - started) * 1000


async def _run(
    base: str, kb: str, queries: list[str], concurrency: int, total: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"search": [], "ttft": [], "total": []}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120, limits=limits
    ) as client:
        for kind in ("search", "chat"):
            queue = list(range(total))

            async def worker(kind: str = kind, queue: list[int] = queue) -> None:
                while queue:
                    i = queue.pop()
                    query = queries[i % len(queries)]
                    if kind == "search":
                        out["search"].append(await _search(client, kb, query))
                    else:
                        first, whole = await _chat(client, kb, query)
                        out["ttft"].append(first)
                        out["total"].append(whole)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="python-faq")
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()

    from backend.api.app import create_app

    with LLMServer() as llm:
        settings = scratch_settings(
            llm={"providers": {"instant": {"kind": "openai", "base_url": f"{llm.url}/v1"}}},
            log_level="WARNING",
        )
        port = _port()
        # Keep-alive longer than the pause between phases, so pooled connections are not closed under us.
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=120
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        while not server.started:
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            kb = http.post(
                "/v1/knowledge-bases",
                json={
                    "name": "bench",
                    "chat": {"chain": [{"provider": "instant", "model": "instant"}]},
                },
            ).json()["id"]
            jobs = []
            for row in load_corpus(args.dataset):
                title, body = document_text(row)
                response = http.post(
                    f"/v1/knowledge-bases/{kb}/documents", json={"title": title or row["_id"], "text": body}
                )
                jobs.append(response.json()["documents"][0]["job_id"])
            while any(http.get(f"/v1/jobs/{j}").json()["status"] in ("queued", "running") for j in jobs):
                time.sleep(0.5)
        queries = list(load_queries(args.dataset, "test")[0].values())
        print(
            f"{args.dataset}: {len(jobs)} documents; provider answers instantly on loopback; top 5 passages"
        )
        print(
            f"{'clients':>7} {'search p50':>11} {'p95':>8} {'first token p50':>16} {'p95':>8} "
            f"{'done p50':>9} {'p95':>8} {'added p50':>10}"
        )
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            total = max(48, 4 * concurrency)
            asyncio.run(_run(base, kb, queries, concurrency, 8))  # warm-up
            r = asyncio.run(_run(base, kb, queries, concurrency, total))
            med = {k: statistics.median(v) for k, v in r.items()}
            print(
                f"{concurrency:>7} {med['search']:>9.1f}ms {percentile(r['search'], 95):>6.1f}ms "
                f"{med['ttft']:>14.1f}ms {percentile(r['ttft'], 95):>6.1f}ms {med['total']:>7.1f}ms "
                f"{percentile(r['total'], 95):>6.1f}ms {med['ttft'] - med['search']:>8.1f}ms"
            )
        server.should_exit = True
        thread.join(10)


if __name__ == "__main__":
    main()
