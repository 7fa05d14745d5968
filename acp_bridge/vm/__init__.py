"""The VM's side: the AgentEvent vocabulary, VM processes and the two ways of running turns.

Imports nothing, so that importing a pure module never pulls in the edges.
"""
