"""The ``acp-bridge`` command line: serve, replay, demo.

Imports nothing, so that importing a pure module never pulls in the edges.
"""
