# Starting and stopping the reward servers of a run; sourced after settings.sh.
#
#   start_servers RUN_DIR CONFIG_TEMPLATE     # one `safrl serve` per GPU of $REWARD_GPUS
#   ...                                       # $SAFRL_ENDPOINT lists their endpoints
#   stop_servers                              # SIGTERM: they finish in-flight work, flush logs
#
# Each server logs its share of every step to RUN_DIR/server-<i>/steps.jsonl; the notebooks
# and experiments/saferl/steps.py merge the shares. The config template's ${GUARD_MODEL} and
# ${HELPFULNESS_MODEL} are filled in from the environment into RUN_DIR/safrl.yaml.

SAFRL_SERVER_PIDS=()

render_config() {  # TEMPLATE OUT
  python3 -c 'import os, sys
open(sys.argv[2], "w").write(os.path.expandvars(open(sys.argv[1]).read()))' "$1" "$2"
}

start_servers() {  # RUN_DIR CONFIG_TEMPLATE
  local run_dir=$1 template=$2 port=${SAFRL_BASE_PORT:-5555} i=0 endpoints=() gpu
  mkdir -p "$run_dir"
  render_config "$template" "$run_dir/safrl.yaml"
  IFS=, read -r -a gpus <<< "$REWARD_GPUS"
  for gpu in "${gpus[@]}"; do
    local endpoint="tcp://127.0.0.1:$((port + i))"
    mkdir -p "$run_dir/server-$i"
    CUDA_VISIBLE_DEVICES=$gpu "$SAFRL_BIN" serve --config "$run_dir/safrl.yaml" \
      --endpoint "$endpoint" --run-dir "$run_dir/server-$i" > "$run_dir/server-$i/serve.log" 2>&1 &
    SAFRL_SERVER_PIDS+=($!)
    endpoints+=("$endpoint")
    i=$((i + 1))
  done
  SAFRL_ENDPOINT=$(IFS=,; echo "${endpoints[*]}")
  export SAFRL_ENDPOINT
  # Loading a 4B guard and an 8B reward model takes a while; wait until each server answers.
  for i in "${!endpoints[@]}"; do
    python3 - "${endpoints[$i]}" "${SAFRL_SERVER_PIDS[$i]}" <<'PY'
import os, sys, time
import safrl
endpoint, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 900
with safrl.Client(endpoint, timeout=5.0, retries=0) as client:
    while True:
        try:
            client.info(deep=True)
            break
        except safrl.SafrlError:
            # A server that died is gone from /proc, or a zombie until this shell reaps it.
            stat = f"/proc/{pid}/stat"
            if not os.path.exists(stat) or open(stat).read().rsplit(")", 1)[1].split()[0] == "Z":
                sys.exit(f"{endpoint}: the server exited; see its serve.log")
            if time.time() > deadline:
                sys.exit(f"{endpoint}: no answer after 15 minutes; see its serve.log")
PY
  done
  echo "reward servers ready: $SAFRL_ENDPOINT" >&2
}

stop_servers() {
  local pid
  for pid in "${SAFRL_SERVER_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${SAFRL_SERVER_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  SAFRL_SERVER_PIDS=()
}
