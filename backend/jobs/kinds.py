"""The job kinds, by name: the strings stored in ``jobs.kind`` and keyed on by the worker's handlers.

Kept apart from the modules that queue them so a plugin can register its handlers, and ``kbchat
--help`` can list its commands, without importing the database layer behind those modules.
"""

from __future__ import annotations

INGEST_JOB = "ingest"
FETCH_URL_JOB = "fetch_url"
TUNE_JOB = "tune"
FINETUNE_JOB = "finetune"
ACTIVATE_JOB = "activate_encoder"
SWEEP_JOB = "sweep_encoder_points"
SYNC_SOURCE_JOB = "sync_source"
