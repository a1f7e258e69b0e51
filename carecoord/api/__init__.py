"""The HTTP API (FastAPI): commands to the five services, queries on the read models.

Build it with `carecoord.api.app.create_app(settings)`; run it with `carecoord serve`.
"""
