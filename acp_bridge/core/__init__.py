"""The pure core: turn state, ingestion, translation, tool-call presentation, replay.

Imports nothing, so that importing a pure module never pulls in the edges.
"""
