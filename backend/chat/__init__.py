"""Conversations: retrieve, answer with a provider, cite, remember."""

from backend.chat.service import ChatAnswer, ChatService

__all__ = ["ChatAnswer", "ChatService"]
