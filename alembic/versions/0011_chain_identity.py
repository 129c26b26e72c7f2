"""Follow a sent receipt as a real node allows: by its fee payer's nonce and its block's hash.

- `submissions.transaction_fee_payer`: whose nonce the receipt's command used. Before the
  monitor calls a command dropped, that account's ledger nonce decides: still at or below the
  command's nonce means dropped; past it means the command (or none other: only we sign for
  it) was included, and it is searched for instead of being sent again. NULL for rows sent
  before this revision: the monitor follows those as before.
- `submissions.chain_included_block`: the state hash of the block that included the
  receipt. A reorg that takes that block off the best chain sends the row back to `pending`;
  a height alone could not tell.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from touchgrass.migrations import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE submissions ADD COLUMN IF NOT EXISTS transaction_fee_payer text;
    ALTER TABLE submissions ADD COLUMN IF NOT EXISTS chain_included_block text;
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
