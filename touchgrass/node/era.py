"""Which Mina networks the pinned o1js can make transactions for (mina-daemon.md, "Network eras").

A network's era shows in its daemon's version: Berkeley-era daemons are 3.x, Mesa daemons
(transaction protocol 5.0.0) are 4.x. o1js 2.x makes Berkeley-era transactions only; a Mesa
network refuses every one of them, so publishing there would burn each row's attempts on
rejections. This module is o1js-version-specific by nature and lives behind the Node seam:
moving to o1js 3 changes `O1JS_VERSION`, the lockfile and `SUPPORTED_DAEMON_MAJORS` together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from touchgrass import logs
from touchgrass.errors import UnsupportedNetwork
from touchgrass.node.install import O1JS_VERSION

__all__ = ["Era", "SUPPORTED_DAEMON_MAJORS", "era_of", "require_supported"]

log = logs.get_logger(__name__)

# Daemon major versions whose transactions the pinned o1js makes: 3.x is Berkeley, 4.x is Mesa.
SUPPORTED_DAEMON_MAJORS = frozenset({3})
# What each unsupported era needs instead (named in the refusal).
NEEDED = {4: "o1js 3.x (Node.js 22), for Mesa networks (daemon 4.x, transaction protocol 5.0.0)"}

_SEMVER = re.compile(r"(?<![\d.])(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Era:
    daemon_version: str
    major: int | None  # None: the version string carries no release number (a bare commit id)

    @property
    def supported(self) -> bool:
        """Unknown eras are let through: the node's refusals then say what is wrong."""
        return self.major is None or self.major in SUPPORTED_DAEMON_MAJORS

    def refusal(self) -> str:
        """One line for the operator: what the node runs and which o1js it would need."""
        needs = NEEDED.get(self.major or 0, f"an o1js release for daemon {self.major}.x")
        return (f"the Mina node runs daemon {self.daemon_version}, whose network refuses "
                f"transactions made by o1js {O1JS_VERSION}; publishing there needs {needs}. "
                "This build publishes to Berkeley-era networks (daemon 3.x) only")


def era_of(daemon_version: str) -> Era:
    """The era a daemon's `version` answer (e.g. `4.0.0-mainnet-mesa-6850301`) belongs to."""
    found = _SEMVER.search(daemon_version)
    return Era(daemon_version=daemon_version, major=int(found.group(1)) if found else None)


def require_supported(daemon_version: str) -> None:
    """Raise UnsupportedNetwork for a daemon whose network refuses our transactions."""
    era = era_of(daemon_version)
    if not era.supported:
        raise UnsupportedNetwork(era.refusal())
    if era.major is None:
        log.warning("era", "the node's version %r names no release; cannot tell its era",
                    daemon_version)
