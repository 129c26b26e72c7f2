"""`touchgrass status`: what the pipeline is doing now, as a rich table or as JSON.

Gathering (`gather`, `timeline`) is separate from drawing (`render_*`) so scripts and tests
use the same data people see.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from touchgrass import db
from touchgrass.chain.client import ChainClient
from touchgrass.errors import ChainError
from touchgrass.queue import views
from touchgrass.queue.stages import DEPLOY, GENERATE, PUBLISH
from touchgrass.settings import ChainSettings, DatabaseSettings
from touchgrass.statuses import ChainStatus, DeploymentStatus, SubmissionStatus
from touchgrass.store import challenges, receipts, submissions

__all__ = ["StatusReport", "fee_payer_balance", "gather", "render_report", "render_timeline",
           "report_json", "show", "timeline_json"]

QUEUED_STAGES = (GENERATE, PUBLISH, DEPLOY)
SUBMISSION_STATUSES = tuple(SubmissionStatus)
DEPLOYMENT_STATUSES = tuple(DeploymentStatus)


@dataclass(frozen=True)
class StatusReport:
    now: datetime
    submission_totals: dict[str, int]
    deployment_totals: dict[str, int]
    stages: list[views.StageCounts]
    finished_last_hour: dict[str, int]
    failures: list[views.Failure]
    lease_owners: list[views.LeaseOwner]
    chain_totals: dict[str, int] = field(default_factory=dict)
    fee_payer: dict[str, Any] | None = None  # address and balance, when configured


async def gather(pool: asyncpg.Pool, *, failures: int = 10) -> StatusReport:
    now = datetime.now(UTC)
    async with pool.acquire() as connection:
        recent: list[views.Failure] = []
        for table_stage in (GENERATE, DEPLOY):  # one per table: failures are per row
            recent += await views.failures(connection, table_stage, failures)
        recent.sort(key=lambda failure: failure.failed_at, reverse=True)
        return StatusReport(
            now=now,
            submission_totals=await submissions.status_totals(connection),
            deployment_totals=await challenges.deployment_totals(connection),
            stages=[await views.stage_counts(connection, stage) for stage in QUEUED_STAGES],
            finished_last_hour={
                stage.name: await views.finished_since(connection, stage, views.hour_ago(now))
                for stage in QUEUED_STAGES
            },
            failures=recent[:failures],
            lease_owners=[
                owner for stage in QUEUED_STAGES
                for owner in await views.lease_owners(connection, stage)
            ],
            chain_totals=await receipts.chain_totals(connection),
        )


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


def render_report(report: StatusReport) -> Group:
    by_status = {counts.status: counts for counts in report.stages}
    queue = Table(title="Queue", title_justify="left", expand=False)
    queue.add_column("status", no_wrap=True, min_width=30)
    for column in ("total", "waiting", "running", "retrying", "oldest"):
        queue.add_column(column, justify="right")
    for table_name, statuses, totals in (
        ("submissions", SUBMISSION_STATUSES, report.submission_totals),
        ("challenges", DEPLOYMENT_STATUSES, report.deployment_totals),
    ):
        queue.add_section()
        for status in statuses:
            counts = by_status.get(status)
            total = totals.get(status, 0)
            if counts is None:
                queue.add_row(f"{table_name}.{status}", str(total), "", "", "", "")
            else:
                queue.add_row(
                    f"{table_name}.{status}", str(total), str(counts.waiting), str(counts.running),
                    Text(str(counts.retrying), style="yellow" if counts.retrying else ""),
                    _age(report.now, counts.oldest),
                )
    throughput = Table(title="Finished in the last hour", title_justify="left")
    for name in report.finished_last_hour:
        throughput.add_column(name, justify="right")
    throughput.add_row(*(str(n) for n in report.finished_last_hour.values()))

    failures = Table(title=f"Last {len(report.failures)} failures", title_justify="left")
    for column in ("when", "stage", "row", "attempts", "status", "reason"):
        failures.add_column(column, overflow="fold")
    for failure in report.failures:
        failures.add_row(_age(report.now, failure.failed_at) + " ago", failure.stage or "-",
                         failure.row_id[:8], str(failure.attempts), failure.status,
                         failure.reason or "")

    owners = Table(title="Live workers (lease owners)", title_justify="left")
    for column in ("owner", "stage", "rows", "lease until"):
        owners.add_column(column)
    for owner in report.lease_owners:
        owners.add_row(owner.owner, owner.stage, str(owner.rows),
                       owner.lease_until.astimezone().strftime("%H:%M:%S"))
    if not report.lease_owners:
        owners.add_row("(no live leases)", "", "", "")
    chain = Table(title="On chain (monitor)", title_justify="left")
    for name in ChainStatus:
        chain.add_column(name, justify="right")
    chain.add_row(*(str(report.chain_totals.get(name, 0))
                    for name in ChainStatus))
    parts: list[Table | Text] = [queue, throughput, chain, failures, owners]
    if report.fee_payer is not None:
        payer = report.fee_payer
        balance = payer.get("balance_mina")
        parts.append(Text(f"fee payer {payer['address']}: "
                          + (f"{balance:g} MINA" if balance is not None else payer.get("error", "?")),
                          style="yellow" if balance is not None and balance < 10 else ""))
    return Group(*parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def report_json(report: StatusReport) -> dict[str, Any]:
    shown: dict[str, Any] = _jsonable(asdict(report))
    return shown


# ---------------------------------------------------------------- one submission

_TIMELINE = (
    ("created_at", "uploaded"),
    ("queued_at", "queued for proof generation"),
    ("proof_generated_at", "proof stored; queued for publishing"),
    ("published_at", "transaction accepted by the node"),
    ("chain_included_at", "included in a block"),
    ("chain_final_at", ChainStatus.FINAL),
    ("failed_at", "last failure"),
    ("rejected_at", SubmissionStatus.REJECTED),
)


async def timeline(pool: asyncpg.Pool, sha256_hex: str) -> dict[str, Any]:
    return await submissions.find_by_sha256(pool, sha256_hex)


def timeline_json(row: dict[str, Any]) -> dict[str, Any]:
    events = [
        {"at": row[column].isoformat(), "event": label + _batch_note(row, column)}
        for column, label in _TIMELINE if row.get(column) is not None
    ]
    # a transaction replaced by a newer one (dropped by the chain, or a forced resubmit)
    events += [
        {"at": _utc_iso(earlier.get("at")), "event": f"transaction {earlier.get('hash')} (nonce "
         f"{earlier.get('nonce')}) replaced: {earlier.get('why')}"}
        for earlier in row.get("earlier_transactions") or [] if isinstance(earlier, dict)
    ]
    events.sort(key=lambda event: event["at"])
    return {"submission": _jsonable(row), "timeline": events}


def _batch_note(row: dict[str, Any], column: str) -> str:
    if column != "published_at" or not row.get("batch_size"):
        return ""
    return f" ({batch_text(row)})"


def batch_text(row: dict[str, Any]) -> str:
    """Where a photo is in its batch: the command several photos share."""
    if not row.get("batch_size"):
        return ""
    return (f"photo {row['batch_position']} of {row['batch_size']} in transaction "
            f"{row['transaction_hash']}")


def _utc_iso(stamp: object) -> str:
    """A timestamp Postgres wrote into JSON (in the session's time zone), in UTC like the rest."""
    try:
        return datetime.fromisoformat(str(stamp)).astimezone(UTC).isoformat()
    except ValueError:
        return str(stamp)


def render_timeline(row: dict[str, Any]) -> Group:
    now = datetime.now(UTC)
    summary = Table(show_header=False, box=None)
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    leased = row["lease_expires_at"] is not None and row["lease_expires_at"] > now
    fields = [
        ("sha256", row["sha256_hash"]),
        ("id", str(row["id"])),
        ("status", row["status"] + (f" (chain: {row['chain_status']})" if row["chain_status"] else "")),
        ("attempts", str(row["attempts"])),
        ("next run", row["run_at"].isoformat() if row["status"] in
            (SubmissionStatus.PROOF_GENERATION, SubmissionStatus.PROOF_PUBLISHING)
            and not leased else ""),
        ("worked on by", f"{row['lease_owner']} (lease until {row['lease_expires_at']:%H:%M:%S})"
            if leased else ""),
        ("failure", f"[{row['failed_stage']}] {row['failure_reason']}" if row["failure_reason"]
            else ""),
        ("stored proof", "yes" if row["has_proof"] else ""),
        ("transaction", row["transaction_id"] or ""),
        ("batch", batch_text(row)),
        ("receipt", f"an action of zkApp {row['receipt_zkapp_address']}"
            if row["receipt_zkapp_address"] and not row["token_owner_address"] else ""),
        ("receipt (token owner)", row["token_owner_address"] or ""),
        ("correlation id", row["correlation_id"] or ""),
    ]
    for name, value in fields:
        if value:
            summary.add_row(name, value)
    events = Table(title="Timeline", title_justify="left")
    events.add_column("when (UTC)")
    events.add_column("event")
    for event in timeline_json(row)["timeline"]:
        events.add_row(event["at"][:23].replace("T", " "), event["event"])
    return Group(summary, events)


async def fee_payer_balance(address: str, endpoint: str) -> dict[str, Any]:
    """The fee payer's balance for the report; a chain outage is shown, not fatal."""
    client = ChainClient(endpoint, timeout_s=5)
    try:
        account = await client.account(address)
        if account is None:
            return {"address": address, "error": "no such account"}
        return {"address": address, "balance_mina": account.balance_nanomina / 1e9}
    except ChainError as error:
        return {"address": address, "error": str(error)}
    finally:
        await client.close()


async def show(database: DatabaseSettings, out: Console, *, sha256_hex: str | None = None,
               as_json: bool = False, watch_every_s: float | None = None,
               fee_payer: str | None = None, chain: ChainSettings | None = None) -> None:
    """Print the report (refreshed in place every `watch_every_s`, until cancelled) or one
    submission's timeline, as a table or as JSON."""
    pool = await db.create_pool(database.asyncpg_dsn, size=2,
                                application_name="touchgrass-status")

    async def report() -> StatusReport:
        data = await gather(pool)
        if fee_payer and chain is not None:
            data = replace(data, fee_payer=await fee_payer_balance(fee_payer,
                                                                    chain.mina_node_endpoint))
        return data

    try:
        if sha256_hex is not None:
            row = await timeline(pool, sha256_hex)
            if as_json:
                out.print_json(json.dumps(timeline_json(row)))
            else:
                out.print(render_timeline(row))
        elif as_json:
            out.print_json(json.dumps(report_json(await report())))
        elif watch_every_s is None:
            out.print(render_report(await report()))
        else:
            with Live(render_report(await report()), console=out, auto_refresh=False,
                      screen=False) as live:
                while True:
                    await asyncio.sleep(watch_every_s)
                    live.update(render_report(await report()), refresh=True)
    finally:
        await pool.close()
