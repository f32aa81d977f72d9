#!/usr/bin/env bash
# Sets up, builds and starts infusion-server on the bundled default model (models/shapes), and
# builds the `infusion` CLI beside it (build/clients/cli/infusion) to talk to it.
# Extra arguments go to infusion-server (e.g. --port 50051 --metrics_port 9090).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh infusion-server infusion infusion-tool
MODEL=${MODEL:-models/shapes}
if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "serve: $MODEL has no trained weights yet; serving a RANDOMLY INITIALISED model of the" \
       "same shape instead (it answers, but with noise)." >&2
  source scripts/lib.sh
  MODEL=$(random_default_model)
fi
# libgomp threads spin after each parallel region by default and starve OpenBLAS's own threads
# (10x slower steps measured here); let them sleep unless the caller says otherwise.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
exec build/server/infusion-server --model "$MODEL" "$@"
