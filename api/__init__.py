"""FastAPI: app factory, auth, jobs + websocket, and one routes module per domain."""
