"""Pending images: every stored object that may not have its row, written down before it can
be orphaned.

An upload writes its image before the row that refers to it, and a delete removes rows before
their images; a crash or a database outage in between would leave an object no row refers
to, invisible to anyone. Each of those writes and removals now records its storage key here
first (in the transaction that deletes the rows, for a delete) and clears the entry once the
row and the object agree. The API's sweep settles entries older than a grace period: the
object goes unless a row refers to it. No bucket listing is needed, so it costs the same at
any number of images.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from touchgrass.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE IF NOT EXISTS pending_images (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        storage_key text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    -- The sweep reads the oldest entries first.
    CREATE INDEX IF NOT EXISTS pending_images_created_at ON pending_images (created_at);
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
