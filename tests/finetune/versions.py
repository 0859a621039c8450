"""Register an encoder version without training one: the bundled weights saved under a version's name.

Tests of activation, sweeps and the CLI need a second encoder, not a better one; the copy has its own
identity (model id, so its own collection) and loads through the real path from the artifact folder.
"""

from __future__ import annotations

from typing import Any

from backend.db.models import EncoderVersion


def register_copy(client: Any, embedder: Any, name: str, *, kb_id: str | None, weights: bool = True) -> None:
    """``name`` owned by ``kb_id`` (None: the operator's); without ``weights`` its folder is missing."""
    services = client.app.state.services
    if weights:
        embedder.sentence_transformer.save(
            str(services.settings.artifacts_path / "encoders" / name / "model")
        )
    with services.sessions.begin() as session:
        session.add(
            EncoderVersion(
                name=name,
                base_model=embedder.model_id,
                kb_id=kb_id,
                data_hash="",
                path=f"encoders/{name}/model",
                model_id=f"{name}@test",
            )
        )
