"""Keyset pagination: one index per list order, so a page costs the same at any depth.

Every list is ordered by (a timestamp, id) and a page starts after the last row's key with a
row comparison, `(created_at, id) < ($at, $id)`. An index on exactly that order (filter
column first) lets Postgres start at the key and read `limit` entries: no OFFSET, no sort.
The id breaks ties between rows written in the same instant, so it is part of every index
and every ORDER BY, in the same direction as the timestamp (a row comparison needs both
columns to run the same way).

The single-column indexes these replace served the same filters (and the cascades, which a
composite index with the same leading column serves as well).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from touchgrass.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- GET /api/submissions, newest first, unfiltered and with each exact-match filter.
    CREATE INDEX IF NOT EXISTS submissions_list_order
        ON submissions (created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS submissions_list_by_wallet
        ON submissions (wallet_address, created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS submissions_list_by_chain
        ON submissions (chain_id, created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS submissions_list_by_challenge
        ON submissions (challenge_id, created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS submissions_list_by_status
        ON submissions (status, created_at DESC, id DESC);
    DROP INDEX IF EXISTS submissions_created_at;
    DROP INDEX IF EXISTS submissions_wallet_address;
    DROP INDEX IF EXISTS submissions_chain_id;
    DROP INDEX IF EXISTS submissions_challenge_id;

    -- GET /api/challenges and /active, newest start first.
    CREATE INDEX IF NOT EXISTS challenges_list_order ON challenges (start_time DESC, id DESC);
    DROP INDEX IF EXISTS challenges_start_time;

    -- GET /api/chains, oldest first, unfiltered and by challenge.
    CREATE INDEX IF NOT EXISTS chains_list_order ON chains (created_at, id);
    CREATE INDEX IF NOT EXISTS chains_list_by_challenge ON chains (challenge_id, created_at, id);
    DROP INDEX IF EXISTS chains_challenge_id;

    -- GET /api/submissions/:id/likes, newest first. likes_submission_wallet stays: it is the
    -- one-like-per-wallet rule, and it serves the like counts (an index-only count).
    CREATE INDEX IF NOT EXISTS likes_list_order ON likes (submission_id, created_at DESC, id DESC);
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
