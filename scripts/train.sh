#!/usr/bin/env bash
# The recipe of a bundled model: trains it from random weights, evaluating it on the way, and
# writes the model directory ready to bundle. Resumable at any point: run the same command again
# and it continues from the run's last checkpoint (a run stopped at any moment ends with the same
# weights as one never stopped, on the same thread count).
#
#   scripts/train.sh shapes [RUN_DIR]         the default model (configs/train/recipe/shapes/)
#   scripts/train.sh shapes-smoke [RUN_DIR]   the same recipe in minutes: a small pool, 30 steps
#
# A recipe is a folder of training configs, its stages, run in the order of their names
# (1-*.json, 2-*.json, ...). The first starts from random weights; each later one fine-tunes the
# EMA weights its predecessor ended with (infusion-train --init_from), so a stage may change the
# objective, the data mix or the learning rate, or add the patch position embedding (which starts
# at zero). Steps are counted across the stages: the second stage's step 1 is the recipe's step
# (first stage's steps + 1).
#
# RUN_DIR (default runs/MODEL) receives:
#   stages/NAME/           what infusion-train writes for stage NAME (train_log.jsonl,
#                          checkpoints/, samples/), and stages/NAME/model/, the EMA weights it
#                          ended with (float32), which the next stage starts from
#   cache/                 the run's latent caches and tokenizer (--cache_dir), so it needs no
#                          checkout's .cache
#   loss.png               the loss curve of every stage so far (scripts/plot_loss.py), redrawn
#                          after every stretch
#   eval/step_N.json       infusion-eval's results.json for the EMA weights of recipe step N
#                          (exported in float16, as bundled), every EVAL_EVERY steps and at the end
#                          of every stage, at the reduced size of EVAL_ARGS; eval/step_N/ holds
#                          that evaluation's report and grids
#   eval/summary.md, eval/curve.png    the learning curve so far (scripts/eval_curve.py)
#   model/                 at the end: the model directory to bundle (EMA weights, float16)
#   eval/final/            at the end: infusion-eval with its default flags (FINAL_EVAL_ARGS)
#
# Training runs in stretches that end at the next multiple of EVAL_EVERY or at the stage's end
# (infusion-train --until_step), each ending with a checkpoint; the evaluation runs between two
# stretches, so it never shares the cores with them.
# Environment: THREADS (2), EVAL_EVERY, EVAL_ARGS, FINAL_EVAL_ARGS (defaults per model below).
# Needs build/trainer/infusion-train and build/clients/eval/infusion-eval
# (ninja -C build infusion-train infusion-eval).
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything is in one function, read whole before it runs: a run that takes days must not break
# when this file changes under it (bash reads a script as it goes).
main() {
  MODEL=${1:-}
  RECIPE=configs/train/recipe/$MODEL
  if [ -z "$MODEL" ] || ! compgen -G "$RECIPE/*.json" > /dev/null; then
    echo "usage: scripts/train.sh MODEL [RUN_DIR], MODEL one of:" \
      "$(cd configs/train/recipe && ls -d ./*/ | sed 's|^\./||; s|/$||' | tr '\n' ' ')" >&2
    exit 2
  fi
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

  # The stages in order, with their step counts and the recipe step each starts after.
  STAGES=()
  STEPS=()
  OFFSETS=()
  TOTAL=0
  local config
  for config in $(ls "$RECIPE"/*.json | LC_ALL=C sort); do
    STAGES+=("$config")
    OFFSETS+=("$TOTAL")
    STEPS+=("$($PYTHON -c 'import json, sys; print(json.load(open(sys.argv[1]))["steps"])' "$config")")
    TOTAL=$((TOTAL + STEPS[-1]))
  done

  mkdir -p "$RUN/eval" "$RUN/stages"

  log() { echo "[$(date -u '+%F %T')] train.sh: $*"; }

  stage_dir() { echo "$RUN/stages/$(basename "$1" .json)"; }

  # The step of the latest checkpoint in stage folder $1, 0 without one.
  current_step() {
    local latest=$1/checkpoints/latest
    if [ -f "$latest" ]; then
      local name
      name=$(tr -d '[:space:]' < "$latest")
      echo $((10#${name#step_}))
    else
      echo 0
    fi
  }

  # evaluate DIR STEP LABEL ARGS...: exports the EMA weights of checkpoint STEP of stage folder
  # DIR in float16 and runs infusion-eval on them into eval/LABEL/; eval/LABEL.json is written
  # last (its presence means done).
  evaluate() {
    local stage=$1 step=$2 label=$3
    shift 3
    [ -f "$RUN/eval/$label.json" ] && return 0
    local dir=$RUN/eval/$label
    rm -rf "$dir"
    log "evaluating $(basename "$stage") step $step ($label)"
    $TRAIN --out "$stage" --threads "$THREADS" --cache_dir "$RUN/cache" --export_to "$dir/$MODEL-$label" \
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

  # loss.png: the first stage's curve, each later stage continuing it after a dashed line.
  plot_loss() {
    local args=() i dir
    for i in "${!STAGES[@]}"; do
      dir=$(stage_dir "${STAGES[$i]}")
      [ -s "$dir/train_log.jsonl" ] || break
      if [ "$i" -eq 0 ]; then
        args=("$dir/train_log.jsonl" "$RUN/loss.png" --max_step "${STEPS[0]}")
      else
        args+=(--then "$dir/train_log.jsonl" --then_label "$(basename "${STAGES[$i]}" .json)")
      fi
    done
    [ ${#args[@]} -gt 0 ] || return 0
    $PYTHON scripts/plot_loss.py "${args[@]}" --title "$MODEL ($RECIPE)" \
      || log "plot_loss.py failed (training goes on)"
  }

  log "$RECIPE -> $RUN: ${#STAGES[@]} stage(s), $TOTAL steps, $THREADS threads," \
    "evaluated every $EVAL_EVERY steps"
  local i stage offset steps step next resume init=()
  for i in "${!STAGES[@]}"; do
    config=${STAGES[$i]}
    stage=$(stage_dir "$config")
    offset=${OFFSETS[$i]}
    steps=${STEPS[$i]}
    if [ -f "$stage/model/model.safetensors" ]; then
      init=(--init_from "$stage/model")
      continue
    fi
    log "stage $((i + 1)) of ${#STAGES[@]}: $config, recipe steps $((offset + 1))-$((offset + steps))"
    while :; do
      step=$(current_step "$stage")
      # An evaluation a stop interrupted is done again before training goes on.
      if [ "$step" -gt 0 ] && [ $(((offset + step) % EVAL_EVERY)) -eq 0 ] && [ "$step" -lt "$steps" ]; then
        # shellcheck disable=SC2086
        evaluate "$stage" "$step" "$(printf 'step_%06d' $((offset + step)))" $EVAL_ARGS
      fi
      [ "$step" -ge "$steps" ] && break
      next=$((((offset + step) / EVAL_EVERY + 1) * EVAL_EVERY - offset))
      [ "$next" -gt "$steps" ] && next=$steps
      # A checkpoint means the stage has started: continue it. Otherwise start it, from the
      # previous stage's weights when there is one.
      resume=("${init[@]}")
      [ -f "$stage/checkpoints/latest" ] && resume=(--resume)
      log "training recipe steps $((offset + step + 1))-$((offset + next))"
      # --config every time: the committed config is what runs (and what a later resume reads).
      $TRAIN --config "$config" --out "$stage" --threads "$THREADS" --cache_dir "$RUN/cache" \
        "${resume[@]}" --until_step "$next"
      plot_loss
    done
    # The stage's last step joins the curve; its EMA weights start the next stage.
    # shellcheck disable=SC2086
    evaluate "$stage" "$steps" "$(printf 'step_%06d' $((offset + steps)))" $EVAL_ARGS
    rm -rf "$stage/model.tmp"
    $TRAIN --out "$stage" --threads "$THREADS" --cache_dir "$RUN/cache" --export_to "$stage/model.tmp" \
      --export_dtype f32
    mv "$stage/model.tmp" "$stage/model"
    init=(--init_from "$stage/model")
  done

  # The bundle: the last stage's EMA weights in float16; the full evaluation decides it.
  if [ ! -f "$RUN/model/model.safetensors" ]; then
    rm -rf "$RUN/model.tmp"
    $TRAIN --out "$(stage_dir "${STAGES[-1]}")" --threads "$THREADS" --cache_dir "$RUN/cache" \
      --export_to "$RUN/model.tmp" --export_dtype f16
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
