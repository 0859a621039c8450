"""Pure text functions shared by retrieval and the answerers: no models, no I/O."""
