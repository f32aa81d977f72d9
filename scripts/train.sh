#!/usr/bin/env bash
# The recipe of a bundled model: trains it from random weights, evaluating it on the way, and
# writes the model directory ready to bundle. Resumable at any point: run the same command again
# and it continues from the run's last checkpoint (a run stopped at any moment ends with the same
# weights as one never stopped, on the same thread count).
#
#   scripts/train.sh shapes [RUN_DIR]         the default model (configs/train/recipe/shapes.json)
#   scripts/train.sh shapes-smoke [RUN_DIR]   the same recipe in minutes: a small pool, 30 steps
#
# RUN_DIR (default runs/MODEL) receives what infusion-train writes (train_log.jsonl, checkpoints/,
# samples/, the model directory of the last step) and:
#   cache/                 the run's latent cache and tokenizer (--cache_dir), so it needs no
#                          checkout's .cache
#   loss.png               the loss curve (scripts/plot_loss.py), redrawn after every stretch
#   eval/step_N.json       infusion-eval's results.json for the EMA weights of step N (exported
#                          in float16, as bundled), every EVAL_EVERY steps, at the reduced size of
#                          EVAL_ARGS; eval/step_N/ holds that evaluation's report and grids
#   eval/summary.md, eval/curve.png    the learning curve so far (scripts/eval_curve.py)
#   model/                 at the end: the model directory to bundle (EMA weights, float16)
#   eval/final/            at the end: infusion-eval with its default flags (FINAL_EVAL_ARGS)
#
# Training runs in stretches of EVAL_EVERY steps (infusion-train --until_step), each ending with a
# checkpoint; the evaluation runs between two stretches, so it never shares the cores with them.
# Environment: THREADS (2), EVAL_EVERY, EVAL_ARGS, FINAL_EVAL_ARGS (defaults per model below).
# Needs build/trainer/infusion-train and build/clients/eval/infusion-eval
# (ninja -C build infusion-train infusion-eval).
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything is in one function, read whole before it runs: a run that takes days must not break
# when this file changes under it (bash reads a script as it goes).
main() {
  MODEL=${1:-}
  if [ -z "$MODEL" ] || [ ! -f "configs/train/recipe/$MODEL.json" ]; then
    echo "usage: scripts/train.sh MODEL [RUN_DIR], MODEL one of:" \
      "$(cd configs/train/recipe && ls ./*.json | sed 's|^\./||; s|\.json$||' | tr '\n' ' ')" >&2
    exit 2
  fi
  CONFIG=configs/train/recipe/$MODEL.json
  RUN=${2:-runs/$MODEL}
  THREADS=${THREADS:-2}
  case $MODEL in
    shapes)
      # 20 prompts per text-to-image category (of 50), 100 captions, questions and edits (of 200):
      # about 40% of the full evaluation.
      : "${EVAL_EVERY:=1000}"
      : "${EVAL_ARGS:=--prompts_per_category 20 --captions 100 --questions 100 --edits 100}"
      : "${FINAL_EVAL_ARGS:=}"
      ;;
    *)
      : "${EVAL_EVERY:=10}"
      : "${EVAL_ARGS:=--prompts_per_category 2 --captions 4 --questions 4 --edits 4 --grid_samples 4}"
      : "${FINAL_EVAL_ARGS:=$EVAL_ARGS}"
      ;;
  esac
  TASK=${MODEL%%-*}  # infusion-eval's benchmark: shapes for shapes and shapes-smoke
  TRAIN=build/trainer/infusion-train
  EVAL=build/clients/eval/infusion-eval
  PYTHON=/usr/bin/python3  # Debian's, with python3-matplotlib (scripts/setup.sh)
  for binary in $TRAIN $EVAL; do
    [ -x $binary ] || { echo "$binary is missing: ninja -C build infusion-train infusion-eval" >&2; exit 1; }
  done

  mkdir -p "$RUN/eval"
  COMMON=(--out "$RUN" --threads "$THREADS" --cache_dir "$RUN/cache")
  TOTAL=$($PYTHON -c 'import json, sys; print(json.load(open(sys.argv[1]))["steps"])' "$CONFIG")

  log() { echo "[$(date -u '+%F %T')] train.sh: $*"; }

  # The step of the run's latest checkpoint, 0 without one.
  current_step() {
    local latest=$RUN/checkpoints/latest
    if [ -f "$latest" ]; then
      local name
      name=$(tr -d '[:space:]' < "$latest")
      echo $((10#${name#step_}))
    else
      echo 0
    fi
  }

  # evaluate STEP LABEL ARGS...: exports the EMA weights of checkpoint STEP in float16 and runs
  # infusion-eval on them into eval/LABEL/; eval/LABEL.json is written last (its presence means done).
  evaluate() {
    local step=$1 label=$2
    shift 2
    [ -f "$RUN/eval/$label.json" ] && return 0
    local dir=$RUN/eval/$label
    rm -rf "$dir"
    log "evaluating step $step ($label)"
    $TRAIN "${COMMON[@]}" --export_to "$dir/$MODEL-$label" \
      --checkpoint "$(printf 'step_%06d' "$step")" --export_dtype f16
    $EVAL "$TASK" --model "$dir/$MODEL-$label" --out_dir "$dir" --threads "$THREADS" "$@"
    rm -rf "${dir:?}/$MODEL-$label"
    cp "$dir/results.json" "$RUN/eval/$label.json.tmp"
    mv "$RUN/eval/$label.json.tmp" "$RUN/eval/$label.json"
    summarize
  }

  # eval/summary.md and eval/curve.png from every finished evaluation.
  summarize() {
    local points=() f label
    for f in "$RUN"/eval/step_*.json; do
      [ -f "$f" ] || continue
      label=$(basename "$f" .json)
      points+=("$((10#${label#step_}))=$RUN/eval/$label")
    done
    [ -f "$RUN/eval/final.json" ] && points+=("$TOTAL/final=$RUN/eval/final")
    [ ${#points[@]} -gt 0 ] || return 0
    $PYTHON scripts/eval_curve.py "${points[@]}" --targets issue23 --plot "$RUN/eval/curve.png" \
      > "$RUN/eval/summary.md.tmp"
    mv "$RUN/eval/summary.md.tmp" "$RUN/eval/summary.md"
  }

  plot_loss() {
    [ -s "$RUN/train_log.jsonl" ] || return 0
    $PYTHON scripts/plot_loss.py "$RUN/train_log.jsonl" "$RUN/loss.png" --title "$MODEL ($CONFIG)" \
      || log "plot_loss.py failed (training goes on)"
  }

  log "$CONFIG -> $RUN: $TOTAL steps, $THREADS threads, evaluated every $EVAL_EVERY steps"
  while :; do
    step=$(current_step)
    # An evaluation a stop interrupted is done again before training goes on.
    if [ "$step" -gt 0 ] && [ $((step % EVAL_EVERY)) -eq 0 ] && [ "$step" -lt "$TOTAL" ]; then
      # shellcheck disable=SC2086
      evaluate "$step" "$(printf 'step_%06d' "$step")" $EVAL_ARGS
    fi
    [ "$step" -ge "$TOTAL" ] && break
    next=$(((step / EVAL_EVERY + 1) * EVAL_EVERY))
    [ "$next" -gt "$TOTAL" ] && next=$TOTAL
    resume=()
    [ -f "$RUN/checkpoints/latest" ] && resume=(--resume)
    log "training steps $((step + 1))-$next"
    # --config every time: the committed config is what runs (and what a later resume reads).
    $TRAIN --config "$CONFIG" "${COMMON[@]}" "${resume[@]}" --until_step "$next" --export_dtype f16
    plot_loss
  done

  # The last step: its reduced evaluation joins the curve, the full one decides the bundle.
  # shellcheck disable=SC2086
  evaluate "$TOTAL" "$(printf 'step_%06d' "$TOTAL")" $EVAL_ARGS
  if [ ! -f "$RUN/model/model.safetensors" ]; then
    rm -rf "$RUN/model.tmp"
    $TRAIN "${COMMON[@]}" --export_to "$RUN/model.tmp" --export_dtype f16
    rm -rf "$RUN/model"
    mv "$RUN/model.tmp" "$RUN/model"
  fi
  # shellcheck disable=SC2086
  if [ ! -f "$RUN/eval/final.json" ]; then
    rm -rf "$RUN/eval/final"
    log "final evaluation"
    $EVAL "$TASK" --model "$RUN/model" --out_dir "$RUN/eval/final" --threads "$THREADS" $FINAL_EVAL_ARGS
    cp "$RUN/eval/final/results.json" "$RUN/eval/final.json"
  fi
  summarize
  plot_loss
  log "done: $RUN/model (EMA weights, float16); scores in $RUN/eval/summary.md"
}

main "$@"
exit
