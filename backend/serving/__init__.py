"""Which encoder serves each knowledge base: resolved to immutable snapshots, loaded on demand."""
