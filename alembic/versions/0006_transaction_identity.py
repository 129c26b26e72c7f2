"""Transaction identity as a real Mina daemon gives it, and the deploy abandon timer on the row.

A daemon answers `sendZkapp` with `zkapp { id hash }`: `hash` is the short public transaction
hash (what explorers show); `id` is base64 of the whole serialized command, tens of KB once it
carries a proof (docs/chain.md). The old schema's `submissions.transaction_id` is
varchar(255), so the first publish against a real node failed to store it. From now on
`transaction_id` holds the hash (the API's `transactionId`); nothing needs the daemon's `id`.
The column is widened anyway (varchar -> text is binary-coercible: no table rewrite) so no
value can ever fail to fit, and rows written before are given their hash.

The monitor's timer for a deploy that no block has (abandoned after ABANDON_AFTER_BLOCKS) was
kept in memory, so a restart reset it; it now lives on the challenge row like the
submissions' `transaction_submitted_block_height`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from touchgrass.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE submissions ALTER COLUMN transaction_id TYPE text;
    UPDATE submissions SET transaction_id = transaction_hash
    WHERE transaction_hash IS NOT NULL AND transaction_id IS DISTINCT FROM transaction_hash;
    UPDATE challenges SET transaction_id = transaction_hash
    WHERE transaction_hash IS NOT NULL AND transaction_id IS DISTINCT FROM transaction_hash;
    ALTER TABLE challenges
        ADD COLUMN IF NOT EXISTS transaction_submitted_block_height bigint;
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
