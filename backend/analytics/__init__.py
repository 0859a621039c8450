"""Reports computed from stored conversations: what visitors ask, what the knowledge base cannot
answer, which documents carry the answers, how readers rate them, and the leads collected."""
