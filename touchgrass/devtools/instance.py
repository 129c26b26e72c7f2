"""A running `touchgrass dev`, found from another terminal.

`touchgrass dev` records what it started in its data dir (`dev.json`: URLs, keys, its pid).
`verify`, `status`, `resubmit` and `upload` take their unset settings from it while that
process lives, and say so in one line; settings the operator did set always win.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["ADOPTED_BY", "adopt", "dev_state_file", "running"]

# The settings each command may take from a dev instance, and the dev.json key holding it.
_SETTINGS = {
    "DATABASE_URL": "database_url",
    "MINA_NODE_ENDPOINT": "mina_endpoint",
    "ARCHIVE_NODE_ENDPOINT": "archive_endpoint",
    "SIGNER_PUBLIC_KEY": "signer_public",
    "SIGNER_CURVE": "signer_curve",
    "OPERATOR_PUBLIC_KEY": "operator_public",
    "TOUCHGRASS_API": "api_url",
    "TOUCHGRASS_SIGNER_KEY": "signer_private",
}
ADOPTED_BY = {
    "verify": ("DATABASE_URL", "MINA_NODE_ENDPOINT", "ARCHIVE_NODE_ENDPOINT",
               "SIGNER_PUBLIC_KEY", "SIGNER_CURVE", "OPERATOR_PUBLIC_KEY"),
    "verify-proof": ("SIGNER_PUBLIC_KEY", "SIGNER_CURVE"),
    "trust": ("SIGNER_PUBLIC_KEY", "SIGNER_CURVE", "OPERATOR_PUBLIC_KEY", "DATABASE_URL"),
    "status": ("DATABASE_URL",),
    "resubmit": ("DATABASE_URL",),
    "upload": ("TOUCHGRASS_API", "TOUCHGRASS_SIGNER_KEY", "SIGNER_CURVE"),
}


def dev_state_file() -> Path:
    """Where `touchgrass dev` keeps its state (TOUCHGRASS_DEV_DIR, as `dev --data-dir`)."""
    data_dir = os.environ.get("TOUCHGRASS_DEV_DIR") or \
        Path(platformdirs.user_data_dir("touchgrass")) / "dev"
    return Path(data_dir) / "dev.json"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(state_file: Path | None = None) -> dict[str, Any] | None:
    """The state of the dev instance, when one is running now."""
    file = state_file or dev_state_file()
    try:
        state = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and _alive(state.get("pid")) else None


def adopt(names: Iterable[str]) -> str | None:
    """Fill the unset settings among `names` from a running dev instance (os.environ, read
    by the settings classes and typer's envvar options); the one line to say, or None."""
    state = running()
    if state is None:
        return None
    taken = []
    for name in names:
        value = state.get(_SETTINGS[name])
        if value and not os.environ.get(name):
            os.environ[name] = str(value)
            taken.append(name)
    if not taken:
        return None
    return (f"using the running `touchgrass dev` (pid {state['pid']}) for "
            f"{', '.join(taken)}; set them to use another instance")
