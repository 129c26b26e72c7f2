"""Every transaction a photo ever had, not only its current one.

A transaction the chain dropped (or a forced resubmit) sends the photo back to publishing,
and the republished command gets a new hash: `transactionId` then changes. The old hash was
public (the API showed it, an explorer may have too), so it is kept here, oldest first, as
`{"hash", "nonce", "at", "why"}` objects; `touchgrass status SHA256` shows them in the
timeline. A constant default adds the column without rewriting the table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from touchgrass.migrations import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE submissions
        ADD COLUMN IF NOT EXISTS earlier_transactions jsonb NOT NULL DEFAULT '[]'::jsonb;
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
