"""Receipts as zkApp actions: no new account per photo, found from the digest.

A photo's receipt used to be a new token account under the challenge's zkApp (1 MINA account
creation + the fee); it is now an action of the zkApp, which costs the fee only and which any
archive node indexes (docs/receipts.md). What this means for a running deployment:

- `challenges.zkapp_verification_key_hash`: the contract build a challenge's zkApp runs.
  NULL for every zkApp deployed before this revision (the token-account contract). The
  publisher deploys a zkApp of the current build for such a challenge before its next photo
  (the old zkApp stays on chain, with its receipts); the same happens whenever the stored
  verification key changes (a new circuit, a new o1js).
- `submissions.receipt_zkapp_address` / `receipt_token_id`: where each photo's receipt is,
  set when it is sent, so a redeployed challenge does not lose its earlier photos'
  receipts. Backfilled for the photos published to token accounts (`token_owner_address`).
- Proofs already made stay valid (the AuthenticityProgram did not change); commands proven
  against an old zkApp are proven again for the new one (the publisher already does that
  for a redeployed challenge).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from touchgrass.migrations import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE challenges ADD COLUMN IF NOT EXISTS zkapp_verification_key_hash text;
    ALTER TABLE submissions ADD COLUMN IF NOT EXISTS receipt_zkapp_address text;
    ALTER TABLE submissions ADD COLUMN IF NOT EXISTS receipt_token_id text;
    UPDATE submissions s
    SET receipt_zkapp_address = c.zkapp_address, receipt_token_id = c.zkapp_token_id
    FROM challenges c
    WHERE c.id = s.challenge_id AND s.token_owner_address IS NOT NULL
      AND s.receipt_zkapp_address IS NULL;
    -- GET /api/receipts/:sha256 finds a photo by its digest: sha256_hash is indexed already
    -- (unique, 0001).
    """)


def downgrade() -> None:
    raise NotImplementedError("touchgrass migrations are forward-only")
