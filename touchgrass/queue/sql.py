"""Every statement of the queue engine, one named template each, with why each clause is there.

The templates are table-agnostic: `render(template, stage)` fills in the stage's table,
status column and status literals. The ready status is formatted in as a literal, not passed
as a parameter, on purpose: the partial claim indexes (`WHERE status = 'proof_generation'`)
can only be used by a plan that sees the literal; a prepared statement with `status = $1`
would fall back to a generic plan and a scan of the whole table.
"""

from __future__ import annotations

from touchgrass.queue.stages import Stage, channel

__all__ = ["STATEMENTS", "render"]

# -- name: claim
# Queue rules 1, 2 and 5. The CTE locks up to $2 ready rows, the UPDATE leases them; one statement,
# committed at once, so no transaction stays open while the work runs.
CLAIM = """
WITH picked AS (
    SELECT id
    FROM {table}
    WHERE {status} = '{ready}'          -- the partial index's predicate, as a literal
      AND run_at <= now()               -- a retry waits out its backoff here
      AND (lease_expires_at IS NULL     -- never leased, released, or finished earlier
           OR lease_expires_at < now()) -- queue rule 5: a crashed worker's lease has run out
      AND attempts < $4                 -- an exhausted row is for the sweep, not a worker
    ORDER BY run_at, id                 -- oldest first: the partial index's order, no sort
    LIMIT $2                            -- the caller's free slots, never more
    -- NO KEY: inserting a like (FK to submissions) takes KEY SHARE, which this does not
    -- block. SKIP LOCKED: concurrent claimers take different rows instead of queueing.
    FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE {table} AS t
SET lease_owner = $1,
    lease_expires_at = now() + make_interval(secs => $3),
    attempts = t.attempts + 1           -- queue rule 5: the attempt counts even if we crash
FROM picked
WHERE t.id = picked.id
RETURNING t.id, t.attempts, {payload}
"""

# -- name: claim_where_in (benchmark baseline only, never used by a role)
# The form queue rule 1 forbids: Postgres may evaluate the subquery more than once, locking more
# rows than LIMIT; kept so bench/queue.py can measure it in the same run.
CLAIM_WHERE_IN = """
UPDATE {table} AS t
SET lease_owner = $1,
    lease_expires_at = now() + make_interval(secs => $3),
    attempts = t.attempts + 1
WHERE t.id IN (
    SELECT id FROM {table}
    WHERE {status} = '{ready}' AND run_at <= now()
      AND (lease_expires_at IS NULL OR lease_expires_at < now()) AND attempts < $4
    ORDER BY run_at, id
    LIMIT $2
    FOR NO KEY UPDATE SKIP LOCKED
)
RETURNING t.id, t.attempts, {payload}
"""

# -- name: heartbeat
# Queue rule 4, for every row this worker holds in one round trip. Fenced like a finish: a row
# whose lease was taken over (other owner, or a newer attempt) is not extended and does not
# come back, which tells the worker to cancel that work.
HEARTBEAT = """
UPDATE {table} AS t
SET lease_expires_at = now() + make_interval(secs => $2)
FROM unnest($3::uuid[], $4::int[]) AS held(id, attempts)
WHERE t.id = held.id
  AND t.lease_owner = $1
  AND t.attempts = held.attempts
  AND t.{status} = '{ready}'
RETURNING t.id
"""

# -- name: finish
# Queue rule 3: the lease fence (owner and attempt) plus the status, so a stale worker, a deleted
# row or an operator's change all make this update 0 rows and the result is discarded.
# The next stage starts with a fresh attempt budget; {assignments} are the outcome's columns.
FINISH = """
UPDATE {table}
SET {status} = '{done}',
    lease_owner = NULL,
    lease_expires_at = NULL,
    attempts = 0,
    run_at = now(),
    failure_reason = NULL,
    {done_timestamp} = now(),
    updated_at = now(){assignments}
WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND {status} = '{ready}'
"""

# -- name: record_progress
# What a stage must remember before an irreversible step (the publisher stores the signed
# transaction's hash, nonce and receipt key before sending it), fenced like a finish: a
# worker that lost its lease learns it here, before sending anything.
RECORD_PROGRESS = """
UPDATE {table}
SET updated_at = now(){assignments}
WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND {status} = '{ready}'
"""

# -- name: fail
# Queue rule 6 in one fenced statement: either back off (exponential, jittered, computed here so
# every process agrees) or give up: when retrying cannot help ($6), or when this attempt
# counts ($7) and was the last ($4). Giving up clears what must not outlive the stage.
# $7 false gives the attempt back (a nonce clash is not the row's fault). $11, when given,
# is the delay the other side asked for (a 429's retry_after) instead of the backoff.
FAIL = """
UPDATE {table}
SET {status} = CASE WHEN {give_up} THEN '{rejected}' ELSE {status} END,
    {rejected_timestamp} = CASE WHEN {give_up} THEN now() ELSE {rejected_timestamp} END,
    run_at = CASE WHEN {give_up} THEN run_at
                  WHEN $11::float8 IS NOT NULL THEN now() + make_interval(secs => $11::float8)
                  ELSE now() + make_interval(secs => least($9,
                           $5 * power(2, greatest(attempts - 1, 0)) * (1 + $8 * random())))
             END,
    attempts = CASE WHEN $7 THEN attempts ELSE attempts - 1 END,
    failure_reason = $10,
    failed_stage = '{stage}',
    failed_at = now(),
    lease_owner = NULL,
    lease_expires_at = NULL,
    updated_at = now(){cleared_if_given_up}
WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND {status} = '{ready}'
RETURNING {status} AS status, run_at
"""

# -- name: release
# Queue rule 9: on shutdown, hand unfinished rows back at once (no waiting for the lease) and give
# the attempt back: a deploy or a restart is not the row's fault.
RELEASE = """
UPDATE {table} AS t
SET lease_owner = NULL,
    lease_expires_at = NULL,
    attempts = t.attempts - 1
FROM unnest($2::uuid[], $3::int[]) AS held(id, attempts)
WHERE t.id = held.id AND t.lease_owner = $1 AND t.attempts = held.attempts
  AND t.{status} = '{ready}'
RETURNING t.id
"""

# -- name: requeue
# Into a stage from outside it: the monitor found a transaction gone, an operator's
# resubmit, an admin's approval. Ready now with a fresh budget (attempts = 0 also fences out
# a worker still holding an old lease: its writes match on the old attempt), no lease, not
# rejected. $2 is the reason operators see (NULL: none; the last failure then stays where it
# was recorded), $3 who sent the row back. {condition} is the caller's fence on the row as it
# last saw it (a transaction hash, a status); {assignments} are the caller's own columns.
# pg_notify in the same statement is delivered at commit, and only when a row moved.
REQUEUE = """
WITH moved AS (
    UPDATE {table}
    SET {status} = '{ready}',
        attempts = 0,
        run_at = now(),
        lease_owner = NULL,
        lease_expires_at = NULL,
        failure_reason = $2::text,
        failed_stage = CASE WHEN $2::text IS NULL THEN failed_stage ELSE $3::text END,
        failed_at = CASE WHEN $2::text IS NULL THEN failed_at ELSE now() END,
        {rejected_timestamp} = NULL,
        updated_at = now(){assignments}
    WHERE id = $1 AND ({condition})
    RETURNING id
)
SELECT id, pg_notify('{channel}', '') FROM moved
"""

# -- name: reject_exhausted
# A worker that crashed on the last attempt leaves a row the claim will not take
# (attempts >= max); once its lease is over nobody holds it, so reject it with the reason.
REJECT_EXHAUSTED = """
UPDATE {table}
SET {status} = '{rejected}',
    {rejected_timestamp} = now(),
    failure_reason = coalesce(failure_reason || '; ', '')
        || 'attempts exhausted (the last attempt''s worker stopped before finishing)',
    failed_stage = '{stage}',
    failed_at = now(),
    lease_owner = NULL,
    lease_expires_at = NULL,
    updated_at = now(){cleared}
WHERE {status} = '{ready}'
  AND attempts >= $1
  AND (lease_expires_at IS NULL OR lease_expires_at < now())
RETURNING id
"""

# -- name: expire
# The publish expiry: a stored proof not published within the window is rejected and its
# proof cleared. A row being worked on right now is left to its worker.
EXPIRE = """
UPDATE {table}
SET {status} = '{rejected}',
    {rejected_timestamp} = now(),
    failure_reason = 'expired: not published within ' || $2 || ' of the proof'
        || coalesce(' (last error: ' || failure_reason || ')', ''),
    failed_stage = '{stage}',
    failed_at = now(),
    lease_owner = NULL,
    lease_expires_at = NULL,
    updated_at = now(){cleared}
WHERE {status} = '{ready}'
  AND {expires_after} < now() - make_interval(secs => $1)
  AND (lease_expires_at IS NULL OR lease_expires_at < now())
RETURNING id
"""

# -- name: stage_counts (`touchgrass status`)
# Running = a live lease; retrying = not running and a failure recorded in this stage (finish
# clears failure_reason); waiting = the rest. The partial index bounds the scan to the stage.
STAGE_COUNTS = """
SELECT count(*) FILTER (WHERE lease_expires_at > now()) AS running,
       count(*) FILTER (WHERE (lease_expires_at IS NULL OR lease_expires_at <= now())
                          AND failure_reason IS NOT NULL) AS retrying,
       count(*) FILTER (WHERE (lease_expires_at IS NULL OR lease_expires_at <= now())
                          AND failure_reason IS NULL) AS waiting,
       min(coalesce({ready_since}, created_at)) AS oldest
FROM {table}
WHERE {status} = '{ready}'
"""

# -- name: finished_since (`touchgrass status`): rows this stage moved on since $1.
FINISHED_SINCE = """
SELECT count(*) FROM {table} WHERE {done_timestamp} >= $1
"""

# -- name: recent_failures (`touchgrass status`): served by the partial failed_at index.
RECENT_FAILURES = """
SELECT id, failed_stage, attempts, failure_reason, failed_at, {status} AS status
FROM {table}
WHERE failed_at IS NOT NULL
ORDER BY failed_at DESC
LIMIT $1
"""

# -- name: lease_owners (`touchgrass status`): who holds live leases in this stage now.
LEASE_OWNERS = """
SELECT lease_owner, count(*) AS rows, max(lease_expires_at) AS lease_until
FROM {table}
WHERE {status} = '{ready}' AND lease_expires_at > now()
GROUP BY lease_owner
ORDER BY lease_owner
"""

STATEMENTS = {
    "claim": CLAIM,
    "claim_where_in": CLAIM_WHERE_IN,
    "heartbeat": HEARTBEAT,
    "finish": FINISH,
    "record_progress": RECORD_PROGRESS,
    "fail": FAIL,
    "release": RELEASE,
    "requeue": REQUEUE,
    "reject_exhausted": REJECT_EXHAUSTED,
    "expire": EXPIRE,
    "stage_counts": STAGE_COUNTS,
    "finished_since": FINISHED_SINCE,
    "recent_failures": RECENT_FAILURES,
    "lease_owners": LEASE_OWNERS,
}


def render(name: str, stage: Stage, *, assignments: str = "", condition: str = "TRUE") -> str:
    """The statement `name` for `stage`, with the stage's identifiers and literals filled in."""
    give_up = "($6 OR ($7 AND attempts >= $4))"
    cleared = "".join(f",\n    {column} = NULL" for column in stage.cleared_on_reject)
    cleared_if_given_up = "".join(
        f",\n    {column} = CASE WHEN {give_up} THEN NULL ELSE {column} END"
        for column in stage.cleared_on_reject
    )
    return STATEMENTS[name].format(
        table=stage.table,
        status=stage.status_column,
        stage=stage.name,
        ready=stage.ready_status,
        done=stage.done_status,
        rejected=stage.rejected_status,
        payload=", ".join(f"t.{column}" for column in stage.payload_columns),
        done_timestamp=stage.done_timestamp,
        rejected_timestamp=stage.rejected_timestamp,
        expires_after=stage.expires_after_column or "NULL",
        ready_since=stage.ready_since_column,
        cleared=cleared,
        cleared_if_given_up=cleared_if_given_up,
        give_up=give_up,
        assignments=assignments,
        condition=condition,
        channel=channel(stage.name),
    )
