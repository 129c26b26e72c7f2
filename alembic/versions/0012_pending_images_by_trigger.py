"""Every deleted submission's image becomes pending, however the row went: by a trigger.

A delete statement used to collect its rows' image keys itself, with the statement's
snapshot. A user's or challenge's delete reaches submissions through a foreign-key cascade,
which also removes rows an upload committed after that snapshot (the cascade reads the
newest data): their keys never reached `pending_images`, and their images stayed in storage
for good. A row-level trigger sees every row the delete removes, cascades included, and
records its key in the same transaction. `created_txid` lets the deleting transaction find
the entries it made, to settle them at once (the sweep settles them otherwise).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from touchgrass.migrations import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE pending_images
        ADD COLUMN IF NOT EXISTS created_txid bigint NOT NULL DEFAULT txid_current();

    CREATE OR REPLACE FUNCTION touchgrass_image_pending() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.storage_key IS NOT NULL AND OLD.storage_key <> '' THEN
            INSERT INTO pending_images (storage_key) VALUES (OLD.storage_key);
        END IF;
        RETURN OLD;
    END $$;

    DROP TRIGGER IF EXISTS submissions_image_pending ON submissions;
    CREATE TRIGGER submissions_image_pending AFTER DELETE ON submissions
        FOR EACH ROW EXECUTE FUNCTION touchgrass_image_pending();
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
