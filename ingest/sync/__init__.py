"""Source syncs: run a connector and bring the knowledge base's documents in line with the source."""
