"""The Node.js side: the o1js program (js/), its installation, its processes, and its ops.

Everything that depends on the o1js version lives behind this package: the pinned lockfile,
the JS sources, the JSON-lines protocol, and one typed Python function per JS op
(`ops.py`). Moving to another o1js release (o1js 3 for Mesa networks) changes this package
and nothing above it. `open_pool` is the only place a pool of processes is configured.
"""

from __future__ import annotations

from touchgrass.node.install import O1JS_VERSION, Installation, find_node, install
from touchgrass.node.pool import PoolConfig, Progress, ProverPool, compile_circuits, open_pool

__all__ = ["O1JS_VERSION", "Installation", "PoolConfig", "Progress", "ProverPool",
           "compile_circuits", "find_node", "install", "open_pool"]
