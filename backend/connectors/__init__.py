"""Connectors: where a knowledge base's documents come from and how a sync finds what changed."""
