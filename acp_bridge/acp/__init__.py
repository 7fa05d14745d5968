"""The editor's side: ACP's wire shapes, the outbox and the editor's pipes.

Imports nothing, so that importing a pure module never pulls in the edges.
"""
