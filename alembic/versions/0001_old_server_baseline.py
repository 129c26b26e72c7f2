"""The old TouchGrass server's schema, adopted as it is.

Every statement is `IF NOT EXISTS`: on an empty database this creates the old tables, on a
database the old server ran it does nothing, so both paths continue from the same point and
0002 is the only place that changes a table. The old server had no alembic_version table.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from touchgrass.migrations import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE IF NOT EXISTS users (
        wallet_address  varchar(255) PRIMARY KEY,   -- a Mina public key, B62q...
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE IF NOT EXISTS challenges (
        id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        title              varchar(255) NOT NULL,
        description        text NOT NULL,
        start_time         timestamptz NOT NULL,
        end_time           timestamptz NOT NULL,
        participant_count  integer NOT NULL DEFAULT 0,
        chain_count        integer NOT NULL DEFAULT 1,
        created_at         timestamptz NOT NULL DEFAULT now(),
        updated_at         timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE IF NOT EXISTS chains (
        id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name              varchar(255) NOT NULL,
        challenge_id      uuid NOT NULL REFERENCES challenges (id) ON DELETE CASCADE,
        length            integer NOT NULL DEFAULT 0,
        created_at        timestamptz NOT NULL DEFAULT now(),
        last_activity_at  timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE IF NOT EXISTS submissions (
        id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        sha256_hash         varchar(64) NOT NULL UNIQUE,
        wallet_address      varchar(255) NOT NULL REFERENCES users (wallet_address) ON DELETE CASCADE,
        signature           text NOT NULL,
        challenge_id        uuid NOT NULL REFERENCES challenges (id) ON DELETE CASCADE,
        chain_id            uuid NOT NULL REFERENCES chains (id) ON DELETE CASCADE,
        storage_key         varchar(255),
        tagline             text,
        chain_position      integer NOT NULL,
        status              varchar(50) NOT NULL DEFAULT 'awaiting_review'
                            CHECK (status IN ('awaiting_review', 'processing', 'complete', 'rejected')),
        transaction_id      varchar(255),
        failure_reason      text,
        retry_count         integer NOT NULL DEFAULT 0,
        challenge_verified  boolean NOT NULL DEFAULT false,
        created_at          timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE IF NOT EXISTS likes (
        id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        submission_id   uuid NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
        wallet_address  varchar(255) NOT NULL REFERENCES users (wallet_address) ON DELETE CASCADE,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        UNIQUE (submission_id, wallet_address)
    );
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
