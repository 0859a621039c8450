"""Knowledge bases and documents: the records users manage through the API and CLI."""
