"""Backups of a whole kbchat service (issue #19): see :mod:`backend.backup.archive`."""
