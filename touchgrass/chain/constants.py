"""Facts of the Mina chain the chain code relies on, in one place (docs/chain.md)."""

from __future__ import annotations

__all__ = ["ACCOUNT_CREATION_FEE_NANOMINA", "DEFAULT_K", "LOST_ANSWER_BLOCKS",
           "LOST_ANSWER_LOOKS", "LOST_ANSWER_RETRY_S", "SEND_TIMEOUT_S"]

# The frontier's length a node is assumed to have until it said its own (`daemonStatus.
# consensusConfiguration.k`, 290 on every public network): blocks older than it can only be
# found in an archive.
DEFAULT_K = 290

# A node verifies a command's proofs before it answers `sendZkapp`: over 30 s on a busy one.
SEND_TIMEOUT_S = 120.0
# A send whose answer was lost is looked up by hash this many times, a second or two apart,
# before the row is retried after LOST_ANSWER_RETRY_S (not the stage's backoff).
LOST_ANSWER_LOOKS = 4
LOST_ANSWER_RETRY_S = 10.0
# ...in the mempool and the newest blocks: a send answered late went into a block at most a
# couple of slots ago, so the whole frontier (bestChain with every command) is not read.
LOST_ANSWER_BLOCKS = 10

# What the network charges for creating an account (1 MINA): each receipt token account and
# each zkApp costs it once, on top of the transaction fee.
ACCOUNT_CREATION_FEE_NANOMINA = 1_000_000_000
