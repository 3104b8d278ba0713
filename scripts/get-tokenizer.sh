#!/usr/bin/env bash
# Puts the real Qwen3 tokenizer (tokenizer.json, tokenizer_config.json with the chat template) into
# .deps/qwen3-tokenizer, where the build, the tests and the embedded models take it from. Sources,
# first found wins:
#   1. $SAFRL_TOKENIZER_DIR
#   2. shared/data/qwen3-tokenizer beside the clone (../shared on the project's machines)
#   3. the Hugging Face Hub (Qwen/Qwen3-0.6B, through huggingface_hub), where the network allows
# The files must be byte-identical to the Qwen3 checkpoints' (sha256 below): the tests' reference
# ids and renderings were made with exactly these.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=.deps/qwen3-tokenizer
declare -A sha256=(
  [tokenizer.json]=aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4
  [tokenizer_config.json]=5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63
)

verified() {  # verified DIR: both files present with the expected bytes
  local f
  for f in "${!sha256[@]}"; do
    [ -f "$1/$f" ] || return 1
    [ "$(sha256sum "$1/$f" | cut -d' ' -f1)" = "${sha256[$f]}" ] || return 1
  done
}

verified "$dest" && exit 0

beside_clone="$(cd .. && pwd)/shared/data/qwen3-tokenizer"
source_dir=""
if [ -n "${SAFRL_TOKENIZER_DIR:-}" ]; then
  verified "$SAFRL_TOKENIZER_DIR" || {
    echo "get-tokenizer: SAFRL_TOKENIZER_DIR=$SAFRL_TOKENIZER_DIR must hold the Qwen3" \
      "tokenizer.json and tokenizer_config.json (sha256 ${sha256[tokenizer.json]} and" \
      "${sha256[tokenizer_config.json]}); fix the variable or unset it" >&2
    exit 1
  }
  source_dir=$SAFRL_TOKENIZER_DIR
elif verified "$beside_clone"; then
  source_dir=$beside_clone
fi

download_from_hub() {  # download_from_hub DIR
  .venv/bin/python - "$1" <<'PY'
import sys
from huggingface_hub import hf_hub_download
for name in ("tokenizer.json", "tokenizer_config.json"):
    hf_hub_download("Qwen/Qwen3-0.6B", name, local_dir=sys.argv[1])
PY
}

mkdir -p "$dest"
hub_log=$(mktemp)
trap 'rm -f "$hub_log"' EXIT
if [ -n "$source_dir" ]; then
  cp "$source_dir/tokenizer.json" "$source_dir/tokenizer_config.json" "$dest/"
elif ! { download_from_hub "$dest" >"$hub_log" 2>&1 && verified "$dest"; }; then
  rm -rf "$dest"
  verified_note="the download failed; its last lines:"
  grep -q . "$hub_log" || verified_note="the downloaded files do not have the sha256 above"
  cat >&2 <<MSG
get-tokenizer: no Qwen3 tokenizer found. safrl needs the real tokenizer.json and
tokenizer_config.json of Qwen3 (the files in every Qwen3 / Qwen3Guard checkpoint). Give them by one of:
  1. SAFRL_TOKENIZER_DIR=/path/to/a/folder/with/both/files (unset now)
  2. $beside_clone (missing, or not these bytes)
  3. the Hugging Face Hub, Qwen/Qwen3-0.6B ($verified_note)
MSG
  tail -n 3 "$hub_log" | sed 's/^/     /' >&2
  exit 1
fi
