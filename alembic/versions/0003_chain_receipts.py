"""Chain receipts: where a challenge's receipts live, and what the monitor scans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from touchgrass.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- The token id of the challenge's zkApp: receipts are token accounts under it, and
    -- `touchgrass verify` reads them without deriving it again.
    ALTER TABLE challenges ADD COLUMN IF NOT EXISTS zkapp_token_id text;

    -- The monitor follows deploy transactions until they are included.
    CREATE INDEX IF NOT EXISTS challenges_deploying
        ON challenges (deploy_sent_at) WHERE deployment_status = 'deploying';
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
