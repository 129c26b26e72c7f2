"""Finding Node.js and installing the prover's JS dependencies (`touchgrass setup`).

The JS program ships inside the Python package (`node/js`). Its dependencies are installed
from the committed lockfile (`npm ci`, see `install` for the one fallback) into
PROVER_JS_DIR/<lockfile hash>, a place that is writable whatever way touchgrass itself was
installed; the program's sources are synced next to them at every start, so an upgrade of
touchgrass never runs stale JS.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from touchgrass.errors import ConfigError

__all__ = ["JS_SOURCE", "O1JS_VERSION", "Installation", "find_node", "install", "installation",
           "sync_extra_source"]

JS_SOURCE = Path(__file__).resolve().parent / "js"
MIN_NODE_MAJOR = 20
# The o1js release the lockfile pins (js/package.json says the same; a test checks).
O1JS_VERSION = "2.15.0"


@dataclass(frozen=True)
class Installation:
    directory: Path

    @property
    def entry(self) -> Path:
        return self.directory / "src" / "main.js"

    @property
    def checks_entry(self) -> Path:
        """The checks process (js/src/tools.js): o1js without compiling anything."""
        return self.directory / "src" / "tools.js"

    @property
    def installed(self) -> bool:
        return (self.directory / "node_modules" / "o1js" / "package.json").is_file()

    @property
    def has_dev_tools(self) -> bool:
        """The JS package's dev dependencies (TypeScript, for the type check) are there too."""
        return (self.directory / "node_modules" / "typescript" / "package.json").is_file()


def _lock_hash() -> str:
    lock = (JS_SOURCE / "package-lock.json").read_bytes()
    return hashlib.sha256(lock).hexdigest()[:16]


def installation(js_dir: Path) -> Installation:
    return Installation(Path(js_dir) / _lock_hash())


def find_node(node_binary: str) -> str:
    """The Node.js executable, checked to be version 20 or newer."""
    found = shutil.which(node_binary)
    if found is None:
        raise ConfigError(
            f"Node.js {MIN_NODE_MAJOR}+ is required for the prover and `{node_binary}` was not "
            "found on PATH; install Node.js or set NODE_BINARY"
        )
    try:
        version = subprocess.run([found, "--version"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise ConfigError(f"`{found} --version` failed: {error}") from None
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        raise ConfigError(f"Node.js {MIN_NODE_MAJOR}+ is required for the prover, "
                          f"{found} is {version or 'unknown'}")
    return found


def sync_sources(target: Installation) -> None:
    """Copy package.json, the lockfile, tsconfig.json and src/ next to the installed
    dependencies."""
    target.directory.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "tsconfig.json"):
        _copy_if_changed(JS_SOURCE / name, target.directory / name)
    for source in (JS_SOURCE / "src").glob("*.js"):
        _copy_if_changed(source, target.directory / "src" / source.name)


def sync_extra_source(target: Installation, source: Path, name: str) -> Path:
    """Put a file that ships elsewhere (the devnet's) into the installation, where its bare
    imports (`o1js`) resolve against the installed dependencies; returns its path. A folder is
    copied with its `.js` files (extra/<name>/)."""
    destination = target.directory / "extra" / name
    if source.is_dir():
        for file in source.glob("*.js"):
            _copy_if_changed(file, destination / file.name)
        return destination
    _copy_if_changed(source, destination)
    return destination


def _copy_if_changed(source: Path, destination: Path) -> None:
    if destination.exists() and destination.read_bytes() == source.read_bytes():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_suffix(destination.suffix + ".tmp")
    shutil.copyfile(source, temporary)
    temporary.replace(destination)


def install(js_dir: Path, node_binary: str = "node", *, force: bool = False,
            echo: bool = False, dev: bool = False) -> Installation:
    """`npm ci` from the committed lockfile, unless already installed (or `force`). `dev`
    adds the JS package's dev dependencies (TypeScript, for the type check), to an existing
    installation too."""
    find_node(node_binary)
    target = installation(js_dir)
    sync_sources(target)
    if target.installed and not force and (target.has_dev_tools or not dev):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError("npm is required to install the prover's JS dependencies and was not "
                          "found on PATH (it comes with Node.js)")
    flags = ["--no-audit", "--no-fund"] + ([] if dev else ["--omit=dev"])
    # Only the dev tools missing: added beside what is there (`npm ci` would start over).
    command = ["install", "--no-save"] if target.installed and not force else ["ci"]
    result = subprocess.run([npm, *command, *flags], cwd=target.directory,
                            capture_output=not echo, text=True, timeout=1800)
    if result.returncode != 0:
        # `npm ci` insists that the lockfile lists every platform's optional native package;
        # a registry that only carries linux-x64 (like ours) makes that impossible. `npm
        # install --no-save` installs the same locked versions and integrity hashes and
        # leaves the lockfile untouched.
        result = subprocess.run([npm, "install", "--no-save", *flags], cwd=target.directory,
                                capture_output=not echo, text=True, timeout=1800)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-5:] if not echo else []
        raise ConfigError("installing the prover's JS dependencies failed in "
                          + str(target.directory)
                          + (":\n" + "\n".join(detail) if detail else "")
                          + "\nfix the cause (network, npm registry) and run `touchgrass setup`")
    if not target.installed:
        raise ConfigError(f"`npm ci` finished but o1js is missing in {target.directory}")
    return target
