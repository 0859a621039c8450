"""Background work: the durable queue (``queue``), the worker loop that runs registered handlers
(``worker``) and the job kinds (``kinds``). Nothing is imported here, so naming a job kind does not
load the database layer."""
