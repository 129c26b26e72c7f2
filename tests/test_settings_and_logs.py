"""Settings name the variable and never echo secrets; log lines carry role, action and ids."""

from __future__ import annotations

import io
import json
import logging

import pytest
from typer.testing import CliRunner

from touchgrass import logs
from touchgrass.cli import app
from touchgrass.errors import ConfigError
from touchgrass.queue.stages import GENERATE, PUBLISH, policy_for
from touchgrass.settings import DatabaseSettings, QueueSettings, load


def test_a_missing_variable_is_named(monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="^DATABASE_URL is required but not set$"):
        load(DatabaseSettings)


def test_a_malformed_variable_is_named_without_its_value(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://admin:hunter2@db/x")
    with pytest.raises(ConfigError) as caught:
        load(DatabaseSettings)
    assert "DATABASE_URL is invalid" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_an_s3_endpoint_with_credentials_in_it_is_one_line_without_them(monkeypatch) -> None:
    from touchgrass.settings import StorageSettings

    monkeypatch.setenv("MINIO_ENDPOINT", "http://admin:hunter2@s3.internal:9000")
    monkeypatch.setenv("MINIO_ROOT_USER", "admin")
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", "hunter2")
    with pytest.raises(ConfigError) as caught:
        load(StorageSettings)
    message = str(caught.value)
    assert "MINIO_ENDPOINT is invalid: must not hold credentials" in message
    assert "hunter2" not in message and "\n" not in message


def test_queue_numbers_come_from_the_environment_with_the_old_name(monkeypatch) -> None:
    monkeypatch.setenv("WORKER_RETRY_LIMIT", "7")
    monkeypatch.setenv("PUBLISH_EXPIRY_S", "60")
    settings = load(QueueSettings)
    assert policy_for(GENERATE, settings).max_attempts == 7
    assert policy_for(PUBLISH, settings).expiry_s == 60
    assert policy_for(GENERATE, settings).expiry_s is None
    assert policy_for(PUBLISH, settings).heartbeat_s == 100.0  # a third of the 300 s lease


def test_a_bad_number_names_the_alias_in_use(monkeypatch) -> None:
    monkeypatch.setenv("WORKER_RETRY_LIMIT", "many")
    with pytest.raises(ConfigError, match="WORKER_RETRY_LIMIT is invalid"):
        load(QueueSettings)


def test_defaults_are_the_policy_table() -> None:
    settings = QueueSettings()
    assert [policy_for(GENERATE, settings).max_attempts, policy_for(GENERATE, settings).lease_s,
            policy_for(PUBLISH, settings).backoff_base_s, policy_for(PUBLISH, settings).expiry_s,
            settings.poll_interval_s] == [3, 600.0, 300.0, 86400.0, 5.0]


def capture(fmt: str) -> tuple[io.StringIO, logging.Handler]:
    logs.configure("generate", fmt=fmt)
    stream = io.StringIO()
    handler = logging.getLogger("touchgrass").handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    return stream, handler


def test_json_lines_carry_role_action_and_bound_ids() -> None:
    stream, _ = capture("json")
    log = logs.get_logger("touchgrass.test")
    with logs.bind(sha256="ab" * 32, correlation_id="corr-1"):
        log.info("claim", "claimed %d rows", 3)
    log.info("idle", "nothing bound")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["role"] == "generate" and first["action"] == "claim"
    assert first["message"] == "claimed 3 rows"
    assert first["sha256"] == "ab" * 32 and first["correlation_id"] == "corr-1"
    assert "sha256" not in second and second["action"] == "idle"


def test_console_lines_are_readable() -> None:
    stream, _ = capture("console")
    with logs.bind(sha256="cd" * 32):
        logs.get_logger("touchgrass.test").warning("retry", "will retry")
    line = stream.getvalue()
    assert "WARNING" in line and "generate" in line and "retry" in line
    assert "sha256=cdcdcdcdcdcd…" in line


def test_help_explains_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("api", "generate", "publish", "monitor", "migrate", "status", "resubmit",
                    "dev"):
        assert command in result.output


def test_prove_refuses_a_signature_that_does_not_verify_before_compiling(tmp_path, monkeypatch):
    from tests.support.factories import SIGNER

    monkeypatch.setenv("SIGNER_PUBLIC_KEY", str(SIGNER))
    monkeypatch.setenv("NODE_BINARY", "node-that-does-not-exist")  # would fail if it got that far
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"photo")
    result = CliRunner().invoke(app, ["prove", str(photo), "--signature", f"{'1' * 64},{'2' * 64}"])
    assert result.exit_code == 1 and "does not verify" in result.output
    malformed = CliRunner().invoke(app, ["prove", str(photo), "--signature", "12"])
    assert malformed.exit_code == 2 and "--signature must be r,s" in malformed.output


# ---------------------------------------------------------------- SIGNER_CURVE from the key


@pytest.mark.parametrize("curve", ["secp256k1", "secp256r1"])
def test_the_curve_is_told_from_the_key_when_signer_curve_is_unset(monkeypatch, curve) -> None:
    """docs/http-api.md: an old P-256 deployment (a P-256 SIGNER_PUBLIC_KEY, no SIGNER_CURVE) starts
    unchanged; a point is on one curve or the other."""
    from touchgrass.settings import CurveSettings, SignerSettings
    from touchgrass.signatures import generate_private_key

    _, public = generate_private_key(curve)  # type: ignore[arg-type]
    monkeypatch.delenv("SIGNER_CURVE", raising=False)
    monkeypatch.setenv("SIGNER_PUBLIC_KEY", str(public))
    assert load(SignerSettings).key == public and load(SignerSettings).curve == curve
    assert load(CurveSettings).curve == curve  # the publish role's view, from the same key


def test_a_key_on_neither_curve_or_off_the_named_one_is_refused_by_name(monkeypatch) -> None:
    from touchgrass.settings import CurveSettings, SignerSettings
    from touchgrass.signatures import generate_private_key

    monkeypatch.delenv("SIGNER_CURVE", raising=False)
    monkeypatch.setenv("SIGNER_PUBLIC_KEY", f"{1:064x},{2:064x}")
    with pytest.raises(ConfigError, match="SIGNER_PUBLIC_KEY is invalid: is not a point on "
                                          "secp256k1 or secp256r1"):
        load(SignerSettings)
    _, p256 = generate_private_key("secp256r1")
    monkeypatch.setenv("SIGNER_PUBLIC_KEY", str(p256))
    monkeypatch.setenv("SIGNER_CURVE", "secp256k1")  # named: the key must be on that one
    with pytest.raises(ConfigError, match="SIGNER_PUBLIC_KEY is invalid: is not a point on "
                                          "secp256k1$"):
        load(SignerSettings)
    monkeypatch.delenv("SIGNER_CURVE")
    monkeypatch.delenv("SIGNER_PUBLIC_KEY")
    assert load(CurveSettings).curve == "secp256k1"  # no key, no curve: the default
