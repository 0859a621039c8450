"""Counting tokens never changes the tokenizer ``encode`` uses.

A fast tokenizer's truncation and padding are state that each transformers call rewrites when it asks
for other settings. The ingestion worker counts tokens (chunking the next batch) on one thread while
another encodes; when both shared one tokenizer, a count cleared the padding in the middle of an
encode and the batch failed ("Unable to create tensor"). The invariant that rules this out: token
counting and offsets leave the encoding tokenizer's settings exactly as ``encode`` set them.
"""

from __future__ import annotations

from backend.encoder.sentence_transformer import SentenceTransformerEmbedder


def _settings(embedder: SentenceTransformerEmbedder) -> tuple[object, object]:
    backend = embedder.sentence_transformer.tokenizer.backend_tokenizer
    return backend.truncation, backend.padding


def test_counting_tokens_leaves_the_encoding_tokenizer_as_encode_set_it(
    embedder: SentenceTransformerEmbedder,
) -> None:
    texts = ["a short one", "a somewhat longer text that pads the first " * 3]
    embedder.embed_documents(texts)
    encoding = _settings(embedder)
    assert encoding[1] is not None, "encode pads its batches"
    embedder.tokenizer.token_offsets("no truncation and no padding here " * 50)  # what chunking calls
    assert _settings(embedder) == encoding
    embedder._token_batches(texts * 2, None)  # how encode plans its passes: counts every text
    assert _settings(embedder) == encoding
    assert embedder.tokenizer.token_offsets("word " * 300)[-1] == (1495, 1499)  # untruncated
