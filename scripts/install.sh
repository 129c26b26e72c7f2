#!/usr/bin/env bash
# Installs touchgrass from this checkout into the active Python environment: the package
# (editable, so the alembic/ migrations travel with it), the prover's JS dependencies, and
# (with --compile) the compiled circuits in CIRCUIT_CACHE_PATH. The Dockerfile and CI both
# run this script, so every step of the image build is exercised by CI.
#   bash scripts/install.sh [--dev] [--compile]
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
setup_flags=""
compile=0
for argument in "$@"; do
  case "$argument" in
    --dev) extras="[dev]"; setup_flags="--dev" ;;
    --compile) compile=1 ;;
    *) echo "usage: scripts/install.sh [--dev] [--compile]" >&2; exit 2 ;;
  esac
done

python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".${extras}"
# shellcheck disable=SC2086
touchgrass setup $setup_flags
if [ "$compile" -eq 1 ]; then
  touchgrass setup --compile
fi
