#!/usr/bin/env bash
# Soak test (not in CI): N runs, each killed with -9 several times at random
# moments, some of them inside a save (a random file operation of a random
# save, through the test binary's fault injection), and resumed each time
# with --resume; every run must end byte-identical to an uninterrupted one:
# weights (model.safetensors), optimizer and generator state
# (state.safetensors) and metrics.jsonl (less wall-clock seconds).
#
#   tests/soak/soak.sh [--runs=100] [--seed=S] [--work=DIR]
#
# Prints one line per run and a summary; exits non-zero on any difference.
# The seed is printed first; the same seed replays the same kills.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=100
seed=$(( $(od -An -N2 -tu2 /dev/urandom) ))
work=$(mktemp -d /tmp/torchtrain-soak.XXXXXX)
for arg in "$@"; do
  case ${arg} in
    --runs=*) runs=${arg#--runs=} ;;
    --seed=*) seed=${arg#--seed=} ;;
    --work=*) work=${arg#--work=} ;;
    *) echo "soak.sh: unknown option ${arg}" >&2; exit 2 ;;
  esac
done
echo "soak: ${runs} runs, seed ${seed} (replay with --seed=${seed}), work in ${work}"
RANDOM=${seed}

tools/bazel build //experiments:train //tests:train_with_faults >&2
bin=$(tools/bazel info bazel-bin 2> /dev/null)
TRAIN=${bin}/experiments/train
FAULTY=${bin}/tests/train_with_faults

# Dropout (mlp) and Adam: the generator and optimizer state both matter.
# Async saves every 5 steps, so kills often land inside one.
args=(--model=mlp '--model_options={"hidden":[64],"dropout":0.3}' --dataset=synthetic
      --optimizer=adam --lr=0.003 --epochs=8 --batch_size=16 --checkpoint_every_steps=5
      --keep_last=2 --async_checkpoint --progress=never --log_interval=0 --threads=1)
mkdir -p "${work}"
"${TRAIN}" "${args[@]}" --run_dir="${work}/straight" > "${work}/straight.log" 2>&1

source tests/shell_checks.sh  # same_run
identical() { same_run "$1" "${work}/straight"; }

phases=("create:model.safetensors" "write:model.safetensors" "create:state.safetensors"
        "write:state.safetensors" "write:checkpoint.json" "rename:/checkpoints/step-"
        "remove:.tmp-deleting-")
failures=0
total_kills=0
save_kills=0
for ((run = 1; run <= runs; run++)); do
  dir="${work}/run${run}"
  kills=$((1 + RANDOM % 5))
  landed=0
  story=""
  for ((attempt = 0; attempt < kills; attempt++)); do
    log="${dir}.attempt${attempt}.log"
    if ((RANDOM % 3 == 0)); then
      # Inside a save: a random operation of one of the next few saves.
      fault="${phases[RANDOM % ${#phases[@]}]}=kill@$((1 + RANDOM % 4))"
      TORCHTRAIN_FAULT="${fault}" "${FAULTY}" "${args[@]}" --run_dir="${dir}" --resume > "${log}" 2>&1 || true
      if grep -q "TORCHTRAIN_FAULT: kill" "${log}"; then
        landed=$((landed + 1)); save_kills=$((save_kills + 1)); story+=" save(${fault%%=*})"
      fi
    else
      delay=$((100 + RANDOM % 900))
      "${TRAIN}" "${args[@]}" --run_dir="${dir}" --resume > "${log}" 2>&1 &
      pid=$!
      sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
      kill -9 "${pid}" 2> /dev/null || true
      status=0
      wait "${pid}" 2> /dev/null || status=$?
      # Landed only if it was the kill that ended the run.
      if ((status == 137)) && ! grep -q "Finished .* epoch(s)" "${log}"; then
        landed=$((landed + 1)); story+=" ${delay}ms"
      fi
    fi
    grep -q "Finished .* epoch(s)" "${log}" && break
  done
  "${TRAIN}" "${args[@]}" --run_dir="${dir}" --resume > "${dir}.last.log" 2>&1
  total_kills=$((total_kills + landed))
  if identical "${dir}"; then
    echo "run ${run}: ${landed} kill(s) landed:${story}; identical"
    rm -rf "${dir}" "${dir}".*.log
  else
    echo "run ${run}: ${landed} kill(s) landed:${story}; DIFFERENT (kept in ${dir})"
    failures=$((failures + 1))
  fi
done
echo "soak: ${runs} runs, ${total_kills} kill -9 landed (${save_kills} inside saves), ${failures} different; seed ${seed}"
((failures == 0))
