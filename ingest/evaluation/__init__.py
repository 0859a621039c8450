"""``kbchat eval``: measure retrieval on a BEIR-layout dataset through the real pipeline."""
