"""Local stand-ins for outside services, so tests and the offline dev stack never depend on the network.

Each emulator speaks the real wire format, so production clients (``openai``, ``httpx``, ``feedparser``) are
pointed at them by base URL alone, and each can be told to misbehave through the shared fault-injection API.
"""
