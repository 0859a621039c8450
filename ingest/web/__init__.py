"""URL ingestion: a fetcher that obeys the address policy on every hop, sitemaps, the job handler."""
