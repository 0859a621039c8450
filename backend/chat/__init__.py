"""Conversations: retrieve, answer with a provider, cite, remember."""

from backend.chat.service import ChatAnswer, ChatInput, ChatService

__all__ = ["ChatAnswer", "ChatInput", "ChatService"]
