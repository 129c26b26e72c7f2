"""Which Mina networks the pinned o1js can make transactions for, and whether the node serves
the network our signatures are made for (docs/chain.md "Eras and networks").

A daemon's `version` is its git commit id: it names no release, so it cannot tell an era.
What does is the consensus constants every daemon answers in `daemonStatus`: a slot lasts
180 s on Berkeley-era networks and 90 s on Mesa networks (transaction protocol 5.0.0), whose
commands only o1js 3 (Node.js 22) makes. A Mesa node refuses every command o1js 2.x builds,
so publishing there would burn each row's attempts on refusals. This module is
o1js-version-specific by nature and sits behind the Node seam: moving to o1js 3 changes
`O1JS_VERSION`, the lockfile and `SUPPORTED_ERAS` together.

The network id (`mina:<name>`) is part of every signed message: a node of another network
refuses each of our commands as `Invalid_signature`, so a mismatch stops the role at start.
"""

from __future__ import annotations

import enum
from typing import Protocol

from touchgrass import logs
from touchgrass.errors import UnsupportedNetwork, WrongNetwork
from touchgrass.node.install import O1JS_VERSION

__all__ = ["TRANSACTION_VERSION", "Era", "NodeIdentity", "SUPPORTED_ERAS", "era_of",
           "require_network", "require_supported", "require_usable"]

log = logs.get_logger(__name__)


class Era(enum.Enum):
    BERKELEY = "Berkeley"  # transaction protocol 3.x/4.x: o1js 2.x
    MESA = "Mesa"  # transaction protocol 5.0.0: o1js 3.x on Node.js 22
    UNKNOWN = "unknown"


# Slot duration (ms) -> era: the daemon's consensus constants (docs/chain.md).
_SLOT_DURATION_ERA = {180_000: Era.BERKELEY, 90_000: Era.MESA}
SUPPORTED_ERAS = frozenset({Era.BERKELEY})
# The transaction version a node of each era runs (the daemon's Txn_version.current, from its
# protocol version; o1js 2.15.0's protocolVersions.txnVersion is 3): a permission granted
# "impossible during the current version" holds only while the node runs that version, and a
# hard fork that raises it turns such a permission into "signature" (docs/receipts.md).
TRANSACTION_VERSION = {Era.BERKELEY: 3}
NEEDED = {Era.MESA: "o1js 3.x on Node.js 22 (Mesa, transaction protocol 5.0.0)"}


class NodeIdentity(Protocol):
    """The parts of a node's answers that decide the era and the network (what
    chain.client.NodeInfo carries; a protocol keeps this module below the chain client)."""

    @property
    def network_id(self) -> str: ...
    @property
    def slot_duration_ms(self) -> int: ...
    @property
    def chain_id(self) -> str: ...


def era_of(node: NodeIdentity) -> Era:
    return _SLOT_DURATION_ERA.get(node.slot_duration_ms, Era.UNKNOWN)


def require_supported(node: NodeIdentity) -> Era:
    """Raise UnsupportedNetwork (one line) for a network our o1js cannot make commands for.

    An era we cannot tell is refused on mainnet, where a wrong guess costs real fees, and let
    through with a warning elsewhere (a local network with custom constants)."""
    era = era_of(node)
    if era in SUPPORTED_ERAS:
        return era
    where = f"the Mina node ({node.network_id}, chain {node.chain_id[:12] or '?'}…)"
    if era is Era.UNKNOWN:
        what = (f"{where} has {node.slot_duration_ms / 1000:g} s slots, which are neither "
                "Berkeley's (180 s) nor Mesa's (90 s)")
        if node.network_id != "mina:mainnet":
            log.warning("era", "%s; publishing as for Berkeley", what)
            return era
        raise UnsupportedNetwork(f"{what}: refusing to publish to mainnet without knowing its era")
    raise UnsupportedNetwork(
        f"{where} runs the {era.value} protocol ({node.slot_duration_ms / 1000:g} s slots); this "
        f"build's o1js {O1JS_VERSION} makes Berkeley-era transactions only, and publishing there "
        f"needs {NEEDED[era]}")


def require_network(node: NodeIdentity, mina_network: str) -> None:
    """Raise WrongNetwork when the node's `networkID` is not `mina:<MINA_NETWORK>`.

    Our signatures use MINA_NETWORK's domain (mainnet, or the one testnet domain o1js uses for
    devnet and testnet), so a node of another domain refuses every command. A node whose
    network has some other name (a private or preflight network) is accepted when its domain
    matches, with the name logged."""
    name = node.network_id.removeprefix("mina:")
    if name == mina_network:
        return
    ours_mainnet = mina_network == "mainnet"
    if name in {"mainnet", "devnet", "testnet"} or ours_mainnet:
        raise WrongNetwork(
            f"the Mina node serves {node.network_id} but MINA_NETWORK is {mina_network}: every "
            f"command would be refused as Invalid_signature; set MINA_NETWORK={name} or point "
            "MINA_NODE_ENDPOINT at a node of that network")
    log.warning("network", "the node serves %s; signing for %s (the same signature domain)",
                node.network_id, mina_network)


def require_usable(node: NodeIdentity, mina_network: str) -> None:
    """Both checks a node must pass before anything is sent to it: its era, then its network."""
    require_supported(node)
    require_network(node, mina_network)
