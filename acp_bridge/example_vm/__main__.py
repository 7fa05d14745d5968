"""``python -m acp_bridge.example_vm``: run the example VM on stdin and stdout.

``main`` lives in :mod:`.program`, not here: the package re-exports it, and a package that
imported its own ``__main__`` would make ``python -m`` warn that the module was already
imported.
"""

from acp_bridge.example_vm.program import main

if __name__ == "__main__":
    raise SystemExit(main())
