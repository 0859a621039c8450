"""The ``kbchat`` command line."""
