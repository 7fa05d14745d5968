"""acp-bridge: a stdio Agent Client Protocol server for agent VMs that speak AgentEvents."""

__version__ = "0.1.0"

__all__ = ["__version__"]
