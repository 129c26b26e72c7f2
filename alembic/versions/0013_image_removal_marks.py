"""Image removals and uploads meet through their entries, not through a held lock.

An upload used to check and rewrite its object, and a removal to delete one, inside a
transaction holding the image's advisory lock: a database connection waited on storage.
With S3 frozen, a dozen deletes held a dozen connections, and routes that need only the
database answered 503. Now each side takes the lock only for short, storage-free
transactions, and leaves a note for the other:

- `removing_since`: a removal has checked that no row refers to the key and is about to
  delete the object. An upload does not insert its row while a fresh mark is on its key.
- `upload` and `object_taken`: an upload's entry, and the removal's note on it that the
  object may have gone since the upload wrote it (the upload writes it again).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from touchgrass.migrations import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE pending_images
        ADD COLUMN IF NOT EXISTS upload boolean NOT NULL DEFAULT false,
        ADD COLUMN IF NOT EXISTS object_taken boolean NOT NULL DEFAULT false,
        ADD COLUMN IF NOT EXISTS removing_since timestamptz;
    -- Uploads and removals look up the other entries of their key.
    CREATE INDEX IF NOT EXISTS pending_images_storage_key ON pending_images (storage_key);
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
