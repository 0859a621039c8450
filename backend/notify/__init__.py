"""Telling a customer's systems what happened: signed webhooks, delivered by the job queue."""
