"""Facts of the Mina chain the chain code relies on, in one place (mina-daemon.md)."""

from __future__ import annotations

__all__ = ["ACCOUNT_CREATION_FEE_NANOMINA", "BEST_CHAIN_WINDOW"]

# How many blocks `bestChain(maxLength:)` is asked for: a real daemon keeps about this many
# (its transition frontier, k = 290), so older blocks can only be found in an archive.
BEST_CHAIN_WINDOW = 290

# What the network charges for creating an account (1 MINA): each receipt token account and
# each zkApp costs it once, on top of the transaction fee.
ACCOUNT_CREATION_FEE_NANOMINA = 1_000_000_000
