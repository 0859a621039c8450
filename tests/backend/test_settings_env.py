"""Settings from the environment: a variable set but empty means the default (compose files and
Kubernetes manifests often carry `KEY=` lines), never a crash at start."""

from __future__ import annotations

import pytest

from backend.settings import Settings


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENCODER__MAX_TOKENS", "ENCODER__QUERY_THREADS", "ENCODER__DEVICE", "CHUNKING__LEAD_TOKENS"):
        monkeypatch.setenv(f"KBCHAT_{name}", "")
    encoder = Settings().encoder
    assert (encoder.max_tokens, encoder.query_threads, encoder.device) == (None, 1, None)
    assert Settings().chunking.lead_tokens == 0


def test_a_set_variable_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBCHAT_ENCODER__QUERY_THREADS", "0")
    assert Settings().encoder.query_threads == 0
    monkeypatch.setenv("KBCHAT_ENCODER__QUERY_THREADS", "-1")
    with pytest.raises(ValueError, match="query_threads"):
        Settings()


def test_none_asks_for_no_value_where_the_default_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().ingest.parse_memory_mb == 2048
    monkeypatch.setenv("KBCHAT_INGEST__PARSE_MEMORY_MB", "none")
    assert Settings().ingest.parse_memory_mb is None
