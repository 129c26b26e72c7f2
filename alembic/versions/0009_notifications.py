"""Telegram notifications: one row per submission to announce, a queue stage of its own.

The old server's telegram worker had a job queue of its own; here `touchgrass notify` claims
these rows with the same engine as every other stage. They live apart from `submissions`
because a photo is being proven while its announcement goes out, and a row has one lease.
`submission_id` is unique: a submission is announced once, whatever retries happen. Rows are
queued only while TELEGRAM_ENABLED is true (nothing piles up while it is off).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from touchgrass.migrations import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE IF NOT EXISTS notifications (
        id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        submission_id    uuid NOT NULL UNIQUE REFERENCES submissions (id) ON DELETE CASCADE,
        status           text NOT NULL DEFAULT 'pending'
                         CONSTRAINT notifications_status_known
                         CHECK (status IN ('pending', 'sent', 'rejected')),
        attempts         integer NOT NULL DEFAULT 0,
        run_at           timestamptz NOT NULL DEFAULT now(),
        lease_owner      text,
        lease_expires_at timestamptz,
        failure_reason   text,
        failed_stage     text,
        failed_at        timestamptz,
        correlation_id   text,
        sent_at          timestamptz,
        rejected_at      timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now()
    );
    -- The claim index (queue rule 8), as for every stage: partial on the ready status, in the
    -- claim's order.
    CREATE INDEX IF NOT EXISTS notifications_notify_claim
        ON notifications (run_at, id) WHERE status = 'pending';
    CREATE INDEX IF NOT EXISTS notifications_failed_at
        ON notifications (failed_at DESC) WHERE failed_at IS NOT NULL;
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
