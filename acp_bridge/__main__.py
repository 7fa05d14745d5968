"""``python -m acp_bridge`` is the same as the ``acp-bridge`` command."""

from acp_bridge.cli.main import main

raise SystemExit(main())
