#!/usr/bin/env bash
# Data-parallel throughput, side by side in one run (this machine is shared
# and noisy: only ratios of runs made together mean anything):
#   LeNet on Fashion-MNIST, global batch 64, one intra-op thread per rank:
#   //experiments:lenet with 1 rank, with 2 ranks (torchrun; summing through
#   shared memory, and with --shared_memory_all_reduce=false over Gloo's
#   loopback TCP), the ceiling of
#   2 ranks on this machine (two independent single-process runs at the
#   per-rank batch of 32, side by side: their samples/s added up), and Python
#   PyTorch's DistributedDataParallel with 2 ranks (gloo, torchrun) on the
#   same model, batch and data; samples/s of the training steps (no
#   evaluation), interleaved over ROUNDS (DDP with 1 rank too, to show how
#   PyTorch's own scaling fares on the same cores). Then the same without DDP
#   for an MLP (784-1024-1024-10, 7.5 MB of gradients) in buckets of 1 MiB,
#   so that all-reduce overlaps backward, with 2 ranks also under
#   --shard_optimizer_state (ZeRO-1: the cost of broadcasting the parameters
#   from their owners each step); then the all-reduce time per step
#   of GradientAverager for LeNet's and a 100 MB model's gradients. After
#   each table, the median of the rounds' ratios against the ceiling (and
#   DDP), their range and the ratio of the means: one round's ratio swings
#   by 10-20% with this machine's noise.
# usage: bazel run -c opt //benchmarks:data_parallel -- [ROUNDS [TRAIN_SAMPLES]]
set -euo pipefail
rounds=${1:-5}
samples=${2:-25600}
runfiles=${RUNFILES_DIR:-$0.runfiles}/torchtrain
lenet=${runfiles}/experiments/lenet
allreduce=${runfiles}/benchmarks/allreduce_time
ddp=${runfiles}/benchmarks/ddp_lenet.py
torchrun=${runfiles}/tools/torchrun
source "${runfiles}/tools/openblas_kernel.sh"  # DDP's Python on our binaries' kernels
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
export TMPDIR=${work}

flags=(--train_samples="${samples}" --epochs=1 --batch_size=64 --checkpoint_interval=0
       --threads=1 --progress=never --log_interval=0)
samples_per_second() {  # from metrics.jsonl: training seconds of epoch 1
  /usr/bin/python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).readline()); print('%.0f' % (int(sys.argv[2]) / r['seconds']))" "$1" "${samples}"
}

echo "LeNet, Fashion-MNIST, ${samples} samples, global batch 64, 1 thread per rank; $(nproc) cores"
ddp_samples_per_second() {  # ranks
  OMP_NUM_THREADS=1 /usr/bin/torchrun --standalone --nproc_per_node="$1" --redirects=2 --tee=2 \
    "${ddp}" "${samples}" 64 > "${work}/ddp.log" 2> "${work}/ddp.err"
  /usr/bin/python3 -c "import json,sys; print('%.0f' % json.loads(sys.stdin.read().strip().splitlines()[-1])['samples_per_second'])" < "${work}/ddp.log"
}
ratio() { /usr/bin/python3 -c "print('%.2fx' % ($1 / $2))"; }
# summary LABEL TARGET NUMERATORS DENOMINATORS: the median of the rounds'
# ratios, the lowest and highest, how many reach TARGET, and the ratio of the
# means (one round's ratio swings with the machine's noise; the target is read
# here).
summary() {
  /usr/bin/python3 -c "
import statistics, sys
target = float(sys.argv[2])
a = [float(x) for x in sys.argv[3].split()]
b = [float(x) for x in sys.argv[4].split()]
r = sorted(x / y for x, y in zip(a, b))
print('%s over %d rounds: median %.2fx (%.2f-%.2fx, %d of %d at %.1fx or more), means %.2fx'
      % (sys.argv[1], len(r), statistics.median(r), r[0], r[-1], sum(x >= target for x in r),
         len(r), target, statistics.mean(a) / statistics.mean(b)))" "$@"
}
# ceiling MODEL_FLAGS...: two independent 1-rank runs at batch 32, each on
# half the samples, started together; the sum of their samples/s, then
# twice the slower one's: ranks that meet every step go at the slower one's
# pace (on this machine one of the pair is often 10-30% slower).
ceiling() {
  rm -rf "${work}/pair0" "${work}/pair1"
  local half=$((samples / 2)) pids=() k
  for k in 0 1; do
    "${lenet}" "${flags[@]}" "$@" --train_samples="${half}" --batch_size=32 \
      --run_dir="${work}/pair${k}" > "${work}/pair${k}.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  /usr/bin/python3 -c "
import json, sys
rates = []
for k in (0, 1):
    r = json.loads(open(sys.argv[1] + '/pair%d/metrics.jsonl' % k).readline())
    rates.append(int(sys.argv[2]) / r['seconds'])
print('%.0f %.0f' % (sum(rates), 2 * min(rates)))" "${work}" "${half}"
}
echo "(ceiling: two independent 1-rank runs at batch 32 side by side, samples/s added;"
echo " lockstep: twice the slower one's, the pace of ranks that meet every step)"
# two_ranks NAME FLAGS...: samples/s of a 2-rank run
two_ranks() {
  local name=$1
  shift
  rm -rf "${work:?}/${name}"
  "${torchrun}" --standalone --nproc_per_node=2 "${lenet}" "${flags[@]}" "$@" \
    --run_dir="${work}/${name}" > "${work}/${name}.log" 2>&1
  samples_per_second "${work}/${name}/metrics.jsonl"
}
printf '%-6s %9s %9s %9s %9s %9s %9s %9s %7s %8s %9s %8s %8s\n' round "1 rank" "2 ranks" \
  "2r Gloo" "ceiling" "lockstep" "DDP 1r" "DDP 2r" "2r/1r" "2r/ceil" "2r/lockst" "Gloo/ceil" \
  "2r/DDP2r"
all_two=() all_pair=() all_ddp=()
for round in $(seq "${rounds}"); do
  rm -rf "${work}/one"
  "${lenet}" "${flags[@]}" --run_dir="${work}/one" > "${work}/one.log" 2>&1
  one=$(samples_per_second "${work}/one/metrics.jsonl")
  two=$(two_ranks two)
  gloo=$(two_ranks gloo --shared_memory_all_reduce=false)
  read -r pair lockstep < <(ceiling)
  python_one=$(ddp_samples_per_second 1)
  python_two=$(ddp_samples_per_second 2)
  printf '%-6s %9s %9s %9s %9s %9s %9s %9s %7s %8s %9s %8s %8s\n' "${round}" "${one}" "${two}" \
    "${gloo}" "${pair}" "${lockstep}" "${python_one}" "${python_two}" "$(ratio "${two}" "${one}")" \
    "$(ratio "${two}" "${pair}")" "$(ratio "${two}" "${lockstep}")" "$(ratio "${gloo}" "${pair}")" \
    "$(ratio "${two}" "${python_two}")"
  all_two+=("${two}") all_pair+=("${pair}") all_ddp+=("${python_two}")
done
summary "LeNet, 2 ranks / ceiling" 0.9 "${all_two[*]}" "${all_pair[*]}"
summary "LeNet, 2 ranks / DDP 2 ranks" 1.0 "${all_two[*]}" "${all_ddp[*]}"

mlp=(--model=mlp '--model_options={"hidden":[1024,1024]}' --bucket_mb=1)
echo
echo "MLP 784-1024-1024-10 (7.5 MB of gradients, buckets of 1 MiB), global batch 64"
printf '%-6s %9s %9s %9s %9s %9s %9s %7s %8s %9s %9s %8s\n' round "1 rank" "2 ranks" \
  "2r Gloo" "2r ZeRO-1" "ceiling" "lockstep" "2r/1r" "2r/ceil" "2r/lockst" "Gloo/ceil" "ZeRO/2r"
all_two=() all_pair=() all_zero=()
for round in $(seq "${rounds}"); do
  rm -rf "${work}/one"
  "${lenet}" "${flags[@]}" "${mlp[@]}" --run_dir="${work}/one" > "${work}/one.log" 2>&1
  one=$(samples_per_second "${work}/one/metrics.jsonl")
  two=$(two_ranks two "${mlp[@]}")
  gloo=$(two_ranks gloo "${mlp[@]}" --shared_memory_all_reduce=false)
  zero=$(two_ranks zero "${mlp[@]}" --shard_optimizer_state)
  read -r pair lockstep < <(ceiling "${mlp[@]}")
  printf '%-6s %9s %9s %9s %9s %9s %9s %7s %8s %9s %9s %8s\n' "${round}" "${one}" "${two}" \
    "${gloo}" "${zero}" "${pair}" "${lockstep}" "$(ratio "${two}" "${one}")" \
    "$(ratio "${two}" "${pair}")" "$(ratio "${two}" "${lockstep}")" "$(ratio "${gloo}" "${pair}")" \
    "$(ratio "${zero}" "${two}")"
  all_two+=("${two}") all_pair+=("${pair}") all_zero+=("${zero}")
done
summary "MLP, 2 ranks / ceiling" 0.9 "${all_two[*]}" "${all_pair[*]}"
summary "MLP, 2 ranks ZeRO-1 / ceiling" 0.9 "${all_zero[*]}" "${all_pair[*]}"

echo
echo "All-reduce time per step (GradientAverager, 2 ranks, buckets of 25 MiB, through shared"
echo "memory and over Gloo on loopback), ranks meeting at a barrier, then after 4 ms of computing"
echo "(as in training):"
for parameters in 44426 25000000; do
  for shared in true false; do
    for busy in 0 4; do
      "${torchrun}" --standalone --nproc_per_node=2 "${allreduce}" --parameters="${parameters}" \
        --shared_memory_all_reduce="${shared}" --busy_ms="${busy}" --rounds=50 \
        2> "${work}/allreduce.err" | grep '^{' |
        sed "s/}\$/, \"shared_memory\": ${shared}, \"busy_ms\": ${busy}}/" ||
        { tail -5 "${work}/allreduce.err"; exit 1; }
    done
  done
done
