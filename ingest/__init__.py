"""The ingestion worker: loaders per format, chunking, the embedding pipeline, the job handler."""
