"""Background work: the durable queue and the worker loop that runs registered handlers."""

from backend.jobs.queue import JobQueue, enqueue
from backend.jobs.worker import JobContext, JobHandler, JobLost, Worker

__all__ = ["JobContext", "JobHandler", "JobLost", "JobQueue", "Worker", "enqueue"]
