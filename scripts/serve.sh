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
# libgomp threads spin for milliseconds after each parallel region by default and starve
# OpenBLAS's own threads (10x slower steps measured here); spin ~10 us instead unless the caller
# says otherwise (the server would otherwise restart itself once to set it: common/process_env.h).
if [ -z "${OMP_WAIT_POLICY:-}" ]; then export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-1000}; fi
exec build/server/infusion-server --model "$MODEL" "$@"
