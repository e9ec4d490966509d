"""The HTTP contract: REST API under /api/v1 (FastAPI), OpenAPI docs at /api/docs."""
