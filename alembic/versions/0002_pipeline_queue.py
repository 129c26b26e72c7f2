"""The touchgrass pipeline: the table is the queue.

Adds the queue columns (docs/pipeline.md, queue rules 1-9) to submissions and challenges, the stored proof
between the two stages, the chain fields, the new status machine, and the partial indexes the
claims use. Old `processing` rows become `proof_generation`, keeping their retry count as
attempts already used.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from touchgrass.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- ---------------------------------------------------------------- submissions
    -- One source of truth for the attempt count (queue rule 6): the old retry_count becomes it.
    DO $$
    BEGIN
        IF EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'submissions'
                     AND column_name = 'retry_count') THEN
            ALTER TABLE submissions RENAME COLUMN retry_count TO attempts;
        END IF;
    END $$;

    ALTER TABLE submissions
        ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
        -- queue: claimable when run_at <= now() and no live lease (queue rules 1, 5, 6)
        ADD COLUMN IF NOT EXISTS run_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN IF NOT EXISTS lease_owner text,
        ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
        ADD COLUMN IF NOT EXISTS failed_stage text,
        ADD COLUMN IF NOT EXISTS failed_at timestamptz,
        ADD COLUMN IF NOT EXISTS correlation_id text,
        -- the proof, stored between generate and publish; null outside proof_publishing
        ADD COLUMN IF NOT EXISTS proof_json jsonb,
        -- the chain: written before sending so a retry can ask the chain first
        ADD COLUMN IF NOT EXISTS transaction_hash text,
        ADD COLUMN IF NOT EXISTS transaction_nonce bigint,
        ADD COLUMN IF NOT EXISTS token_owner_address text,
        ADD COLUMN IF NOT EXISTS transaction_submitted_block_height bigint,
        ADD COLUMN IF NOT EXISTS chain_status text,
        ADD COLUMN IF NOT EXISTS chain_included_height bigint,
        -- one timestamp per stage, for `touchgrass status SHA256` and the hourly counts
        ADD COLUMN IF NOT EXISTS queued_at timestamptz,
        ADD COLUMN IF NOT EXISTS proof_generated_at timestamptz,
        ADD COLUMN IF NOT EXISTS published_at timestamptz,
        ADD COLUMN IF NOT EXISTS chain_included_at timestamptz,
        ADD COLUMN IF NOT EXISTS chain_final_at timestamptz,
        ADD COLUMN IF NOT EXISTS rejected_at timestamptz;

    -- The old status CHECK (whatever its name) does not know the new statuses.
    DO $$
    DECLARE constraint_name text;
    BEGIN
        FOR constraint_name IN
            SELECT con.conname FROM pg_constraint con
            JOIN pg_class rel ON rel.oid = con.conrelid
            WHERE rel.relname = 'submissions' AND con.contype = 'c'
              AND pg_get_constraintdef(con.oid) LIKE '%status%'
        LOOP
            EXECUTE format('ALTER TABLE submissions DROP CONSTRAINT %I', constraint_name);
        END LOOP;
    END $$;

    UPDATE submissions
    SET status = 'proof_generation', run_at = now(), queued_at = coalesce(queued_at, updated_at)
    WHERE status = 'processing';
    UPDATE submissions SET rejected_at = updated_at WHERE status = 'rejected' AND rejected_at IS NULL;
    UPDATE submissions SET published_at = updated_at WHERE status = 'complete' AND published_at IS NULL;

    ALTER TABLE submissions ALTER COLUMN status SET DEFAULT 'proof_generation';
    ALTER TABLE submissions ADD CONSTRAINT submissions_status_check CHECK (status IN (
        'awaiting_review',   -- upload with AUTO_APPROVE=false -> PATCH decides
        'proof_generation',  -- upload / approve / resubmit -> claimed by `touchgrass generate`
        'proof_publishing',  -- proof stored -> claimed by `touchgrass publish`
        'complete',          -- transaction accepted by the node; the monitor follows chain_status
        'rejected'           -- failed for good (attempts, expiry, invalid input, admin)
    ));
    ALTER TABLE submissions ADD CONSTRAINT submissions_chain_status_check CHECK (
        chain_status IS NULL OR chain_status IN ('pending', 'included', 'final', 'abandoned'));
    -- proof_json lives only between the two stages (cleared on success and on final failure).
    ALTER TABLE submissions ADD CONSTRAINT submissions_proof_json_only_while_publishing
        CHECK (proof_json IS NULL OR status = 'proof_publishing');
    ALTER TABLE submissions ADD CONSTRAINT submissions_sha256_hash_format
        CHECK (sha256_hash ~ '^[0-9a-f]{64}$') NOT VALID;

    -- Chain positions come from the chain row lock; this makes a race a loud error, never a
    -- silent duplicate. The old server could race, so say exactly what blocks the upgrade.
    DO $$
    DECLARE duplicates integer;
    BEGIN
        SELECT count(*) INTO duplicates FROM (
            SELECT 1 FROM submissions GROUP BY chain_id, chain_position HAVING count(*) > 1) d;
        IF duplicates > 0 THEN
            RAISE EXCEPTION 'submissions has % (chain_id, chain_position) pairs used more than once; renumber them before migrating', duplicates;
        END IF;
    END $$;
    ALTER TABLE submissions ADD CONSTRAINT submissions_chain_position_unique
        UNIQUE (chain_id, chain_position);

    -- The natural singleton key (queue rule 8): one submission per image. The old table had it
    -- under the default name; IF NOT EXISTS keeps that one.
    CREATE UNIQUE INDEX IF NOT EXISTS submissions_sha256_hash_key ON submissions (sha256_hash);

    -- Queue rule 8: the claim indexes, partial on the stage status and ordered like the claim's
    -- ORDER BY, so a claim reads the head of a small index whatever the finished rows count.
    CREATE INDEX IF NOT EXISTS submissions_generate_claim
        ON submissions (run_at, id) WHERE status = 'proof_generation';
    CREATE INDEX IF NOT EXISTS submissions_publish_claim
        ON submissions (run_at, id) WHERE status = 'proof_publishing';
    -- The API's filters and the cascades.
    CREATE INDEX IF NOT EXISTS submissions_chain_id ON submissions (chain_id);
    CREATE INDEX IF NOT EXISTS submissions_challenge_id ON submissions (challenge_id);
    CREATE INDEX IF NOT EXISTS submissions_wallet_address ON submissions (wallet_address);
    CREATE INDEX IF NOT EXISTS submissions_created_at ON submissions (created_at DESC);
    -- `touchgrass status`: recent failures, and the monitor's sent-but-not-final rows.
    CREATE INDEX IF NOT EXISTS submissions_failed_at
        ON submissions (failed_at DESC) WHERE failed_at IS NOT NULL;
    CREATE INDEX IF NOT EXISTS submissions_chain_pending
        ON submissions (published_at) WHERE chain_status IN ('pending', 'included');

    -- ---------------------------------------------------------------- challenges
    ALTER TABLE challenges
        ADD COLUMN IF NOT EXISTS zkapp_address text,
        ADD COLUMN IF NOT EXISTS transaction_id text,
        ADD COLUMN IF NOT EXISTS transaction_hash text,
        ADD COLUMN IF NOT EXISTS transaction_nonce bigint,
        ADD COLUMN IF NOT EXISTS deployment_status text NOT NULL DEFAULT 'pending_deployment',
        ADD COLUMN IF NOT EXISTS failure_reason text,
        ADD COLUMN IF NOT EXISTS failed_stage text,
        ADD COLUMN IF NOT EXISTS failed_at timestamptz,
        ADD COLUMN IF NOT EXISTS correlation_id text,
        ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS run_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN IF NOT EXISTS lease_owner text,
        ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
        ADD COLUMN IF NOT EXISTS deploy_sent_at timestamptz,
        ADD COLUMN IF NOT EXISTS deployed_at timestamptz,
        ADD COLUMN IF NOT EXISTS deployment_failed_at timestamptz;

    -- A challenge the old server already deployed keeps its zkApp.
    UPDATE challenges SET deployment_status = 'active', deployed_at = coalesce(deployed_at, updated_at)
    WHERE zkapp_address IS NOT NULL AND deployment_status = 'pending_deployment';

    ALTER TABLE challenges ADD CONSTRAINT challenges_deployment_status_check
        CHECK (deployment_status IN (
            'pending_deployment',  -- created -> claimed by the deploy lane of `touchgrass publish`
            'deploying',           -- deploy transaction sent -> the monitor waits for inclusion
            'active',              -- included: uploads are accepted
            'deployment_failed'    -- attempts exhausted
        ));
    ALTER TABLE challenges ADD CONSTRAINT challenges_time_window CHECK (end_time > start_time) NOT VALID;

    CREATE INDEX IF NOT EXISTS challenges_deploy_claim
        ON challenges (run_at, id) WHERE deployment_status = 'pending_deployment';
    CREATE INDEX IF NOT EXISTS challenges_start_time ON challenges (start_time DESC);

    -- ---------------------------------------------------------------- chains, likes
    CREATE INDEX IF NOT EXISTS chains_challenge_id ON chains (challenge_id, created_at);
    CREATE UNIQUE INDEX IF NOT EXISTS likes_submission_wallet
        ON likes (submission_id, wallet_address);
    CREATE INDEX IF NOT EXISTS likes_wallet_address ON likes (wallet_address);
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
