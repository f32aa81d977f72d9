# Steps shared by the scripts in this folder; source it from the repository root.

# Prints the path of a randomly initialised model of the default shape (configs/models/shapes.json),
# creating it the first time. Needs infusion-tool built.
random_default_model() {
  local dir=.cache/models/random-shapes
  if [ ! -f "$dir/model.safetensors" ]; then
    build/tools/infusion_tool/infusion-tool init --config configs/models/shapes.json \
      --out "$dir" --seed 1 --tokenizer_corpus tests/data/corpus.txt >&2
  fi
  echo "$dir"
}

# start_local_server MODEL LOG [infusion-server flags...]: starts infusion-server on free ports,
# returns once it answers health checks, and stops it when the calling script exits. Sets
# SERVER (its pid) and SERVER_ADDR (localhost:PORT). Exits with the server's log if it dies.
start_local_server() {
  local model=$1 log=$2
  shift 2
  SERVER_PORT_FILE=$(mktemp)
  build/server/infusion-server --model "$model" --port 0 --port_file "$SERVER_PORT_FILE" \
    --metrics_port 0 "$@" > "$log" 2>&1 &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true; rm -f "$SERVER_PORT_FILE"' EXIT
  for _ in $(seq 600); do
    if [ -s "$SERVER_PORT_FILE" ]; then
      SERVER_ADDR="localhost:$(awk '$1 == "grpc" {print $2}' "$SERVER_PORT_FILE")"
      build/clients/cli/infusion health --server "$SERVER_ADDR" > /dev/null 2>&1 && return 0
    fi
    kill -0 $SERVER 2> /dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "infusion-server did not become healthy; see $log" >&2
  exit 1
}
