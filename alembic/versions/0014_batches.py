"""A photo's place in its batch: several photos share one zkApp command now.

The shared command is the photo's `transaction_hash`, as before; `batch_position` (from 1)
and `batch_size` say where in it the photo's receipt is and how many photos it carries, so a
photo's timeline, `touchgrass status` and the API can show its batch. Null for photos sent
before batches (one photo a command).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from touchgrass.migrations import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE submissions
        ADD COLUMN IF NOT EXISTS batch_position smallint
            CHECK (batch_position IS NULL OR batch_position >= 1),
        ADD COLUMN IF NOT EXISTS batch_size smallint
            CHECK (batch_size IS NULL OR batch_size >= 1);
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
