"""The proven `verifyAndStore` command, kept until the receipt is final.

A retry used to rebuild and re-prove the transaction (~18 s), and a dropped transaction sent
the photo back to proof generation, proving the authenticity proof again too. No proven part
of the command depends on the fee payer's nonce (docs/decisions.md), so the command proven
once is kept here and a retry only sets the next nonce and signs again (milliseconds). It is
cleared once the receipt is `final` or the row is rejected, like `proof_json` at `complete`.
Rows already past publishing have none and keep today's behaviour.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from touchgrass.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE submissions ADD COLUMN IF NOT EXISTS proven_command jsonb;
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
