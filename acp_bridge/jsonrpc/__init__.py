"""JSON-RPC 2.0 over newline-delimited pipes, for both peers (the editor and session-mode VMs).

Imports nothing, so that importing a pure module never pulls in the edges.
"""
