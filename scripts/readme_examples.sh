#!/usr/bin/env bash
# Regenerates the "What it does" section of README.md from a real model: starts infusion-server on
# MODEL_DIR, runs one `infusion` command per endpoint with fixed seeds, saves the images under
# docs/examples/, and rewrites the README between its examples markers with the commands and
# their output, as produced.
#
#   scripts/readme_examples.sh [MODEL_DIR]     (default models/shapes)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/shapes}
OUT=docs/examples
CLI=build/clients/cli/infusion
[ -f "$MODEL/model.safetensors" ] || { echo "readme_examples: $MODEL has no weights" >&2; exit 1; }
mkdir -p "$OUT"

source scripts/lib.sh
start_local_server "$MODEL" "$OUT/server.log"
SERVER_FLAG="--server=$SERVER_ADDR"

MD=$(mktemp)
# example TITLE SHOWN_COMMAND -- ARGS...: runs `infusion ARGS` and appends the command as the
# README shows it (without the server flag) and its output to the section.
example() {
  local title=$1 shown=$2; shift 3
  local output
  output=$("$CLI" "$SERVER_FLAG" "$@" 2>&1)
  { echo "**$title**"; echo; echo '```'; echo "\$ $shown"; echo "$output"; echo '```'; echo; } >> "$MD"
}

cp tests/data/images/shapes/green_triangle_above_blue_square.png "$OUT/input_scene.png"
example "Text to image" 'infusion t2i "a red circle above a blue square" -o docs/examples/t2i.png --seed 1' -- \
  t2i "a red circle above a blue square" -o "$OUT/t2i.png" --seed 1
echo '![t2i](docs/examples/t2i.png)' >> "$MD"; echo >> "$MD"
example "Captioning" 'infusion caption docs/examples/input_scene.png' -- \
  caption "$OUT/input_scene.png" --seed 1
echo '![input](docs/examples/input_scene.png)' >> "$MD"; echo >> "$MD"
example "Chat about an image" \
  "printf '/image docs/examples/input_scene.png\\nwhat color is the triangle?\\nhow many objects are there?\\n' | infusion chat --image_dir docs/examples" -- \
  chat --seed 1 --image_dir "$OUT" <<< $'/image '"$OUT"$'/input_scene.png\nwhat color is the triangle?\nhow many objects are there?\n'
example "Image editing" 'infusion edit docs/examples/input_scene.png "make the triangle red" -o docs/examples/edit.png --seed 1' -- \
  edit "$OUT/input_scene.png" "make the triangle red" -o "$OUT/edit.png" --seed 1
echo '![before](docs/examples/input_scene.png) → ![after](docs/examples/edit.png)' >> "$MD"; echo >> "$MD"
example "Model info" 'infusion info' -- info
example "Health" 'infusion health' -- health

python3 - "$MD" "$MODEL" <<'PY'
import re, sys
section = open(sys.argv[1]).read()
model = sys.argv[2]
readme = open("README.md").read()
begin, end = "<!-- examples:begin -->", "<!-- examples:end -->"
block = (f"{begin}\n<!-- written by scripts/readme_examples.sh from {model}; do not edit by hand -->\n\n"
         f"{section.rstrip()}\n{end}")
if begin not in readme:
    sys.exit("README.md has no examples markers")
readme = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
open("README.md", "w").write(readme)
PY
rm -f "$MD" "$OUT/server.log"
echo "readme_examples: README.md updated from $MODEL" >&2
