#!/usr/bin/env bash
# End-to-end runs of the experiment binary: flag files overridden by the
# command line, the run directory resolved against BUILD_WORKING_DIRECTORY,
# metrics.jsonl, log lines, both trainers, and real Fashion-MNIST data.
set -u
TRAIN="$1"
LENET_FLAGS="$2"
source "$(dirname "$0")/shell_checks.sh"

# Every line of metrics.jsonl has the required keys; prints nothing.
metrics_have_keys() {
  local file=$1 lines=$2
  shift 2
  /usr/bin/python3 - "${file}" "${lines}" "$@" <<'PY'
import json, sys
path, lines, keys = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
records = [json.loads(line) for line in open(path)]
assert len(records) == lines, (len(records), lines)
for i, record in enumerate(records, 1):
    assert record["epoch"] == i, record
    missing = [k for k in keys if k not in record]
    assert not missing, (missing, record)
PY
}

# 1. The lenet flag file with command-line overrides, run from a "workspace"
#    directory as `bazel run` would.
workdir="${TEST_TMPDIR}/workspace"
mkdir -p "${workdir}"
BUILD_WORKING_DIRECTORY="${workdir}" "${TRAIN}" --experiment=lenet --flagfile="${LENET_FLAGS}" \
  --dataset=synthetic --epochs=2 --log_interval=4 --batch_size=32 --progress=never \
  > "${TEST_TMPDIR}/lenet.log" 2>&1
check lenet_override_exits_0 test $? -eq 0
run_dir="${workdir}/runs/lenet"
check run_dir_resolved_against_working_directory test -f "${run_dir}/metrics.jsonl"
check metrics_jsonl_has_required_keys metrics_have_keys "${run_dir}/metrics.jsonl" 2 \
  epoch step train_loss train_acc valid_loss valid_acc lr seconds
check command_line_overrides_flag_file /usr/bin/python3 -c "
import json; f = json.load(open('${run_dir}/flags.json'))
assert f['epochs'] == '2' and f['dataset'] == 'synthetic' and f['batch_size'] == '32', f
assert float(f['optimizer.lr']) == 0.01 and float(f['optimizer.momentum']) == 0.9, f
assert f['scheduler.step_size'] == '10' and f['model'] == 'lenet', f"
check training_log_line grep -qE 'Training:Epoch\[001/002\] Iteration\[4/16\] Loss: [0-9.]+ Acc:[0-9.]+%' "${TEST_TMPDIR}/lenet.log"
check validation_log_line grep -qE 'Validation:Epoch\[002/002\] Loss: [0-9.]+ Acc:[0-9.]+%' "${TEST_TMPDIR}/lenet.log"
check no_progress_bar_when_not_a_terminal bash -c "! grep -q 'it/s ETA' '${TEST_TMPDIR}/lenet.log'"

# 2. The autoencoder trainer through the same binary.
"${TRAIN}" --trainer=autoencoder --model=autoencoder --dataset=synthetic --epochs=2 \
  --optimizer=adam --lr=0.001 --run_dir="${TEST_TMPDIR}/ae" --progress=never > "${TEST_TMPDIR}/ae.log" 2>&1
check autoencoder_exits_0 test $? -eq 0
check autoencoder_metrics metrics_have_keys "${TEST_TMPDIR}/ae/metrics.jsonl" 2 \
  train_loss train_psnr valid_loss valid_psnr lr

# 3. Real Fashion-MNIST, a slice of it, with a warm-up schedule.
"${TRAIN}" --model=lenet --epochs=2 --train_samples=3000 --lr=0.05 --momentum=0.9 \
  --scheduler=cosine --warmup_epochs=1 --threads=1 --run_dir="${TEST_TMPDIR}/fmnist" \
  --progress=never > "${TEST_TMPDIR}/fmnist.log" 2>&1
check fashion_mnist_exits_0 test $? -eq 0
check fashion_mnist_learns /usr/bin/python3 -c "
import json; r = [json.loads(l) for l in open('${TEST_TMPDIR}/fmnist/metrics.jsonl')]
assert len(r) == 2 and r[-1]['valid_acc'] > 0.6, r
assert abs(r[0]['lr'] - 0.05 / 3) < 1e-12 and r[1]['lr'] == 0.05, r"
check uses_train_samples grep -q '3000 training and 10000 validation samples' "${TEST_TMPDIR}/fmnist.log"

# 4. Forced progress bar.
"${TRAIN}" --dataset=synthetic --epochs=1 --progress=always --log_interval=0 \
  --run_dir="${TEST_TMPDIR}/bar" > "${TEST_TMPDIR}/bar.log" 2>&1
check progress_bar_shows_rate_and_eta grep -qE 'Epoch\[001/001\] \[.*\] [0-9]+/8 [0-9.]+ it/s ETA' "${TEST_TMPDIR}/bar.log"

finish_checks
