#!/usr/bin/env bash
# ZeRO-1 (--shard_optimizer_state, framework/optim/optimizer_sharding.h) in
# real data-parallel runs: with Adam and with SGD momentum, 2 sharded ranks
# train for 50 steps to checkpoints byte-identical (weights, optimizer state,
# generators, metrics) to those of the unsharded 2-rank run; each rank holds
# about half the optimizer state (each rank logs what it holds, measured)
# and writes its own parameters' state into the checkpoint (the manifest
# says which file, and so which rank, holds each), in the background too
# (--async_checkpoint); a sharded checkpoint
# resumes bit-exactly with 2 ranks (rank 1 reading the model and its own
# parameters' state, not rank 0's; rank 0 verifying all, keeping as much),
# with 1 rank byte-identical to a 1-rank
# continuation of the unsharded run's checkpoint, and with 3 sharded ranks
# (state repartitioned) byte-identical to 3 unsharded ranks; exported to
# PyTorch, its state loads into torch.optim.Adam and equals the unsharded
# run's. Loopback only, free ports, every process waited for.
set -u
TRAIN=$(realpath "$1")  # tests:train_with_faults
CKPT=$(realpath "$2")   # //tools:ckpt
source "$(dirname "$0")/shell_checks.sh"
source "$(dirname "$0")/rank_runs.sh"
cd "${TEST_TMPDIR}"

# An MLP of four 64x64 layers over 8x8 inputs, so that the parameters split
# evenly by bytes (ZeRO-1 partitions whole parameters); dropout, so that each
# rank's generator matters. 5 epochs of 10 steps of 48 samples (48 divides
# over 1, 2 and 3 ranks), a checkpoint every 10 steps.
FLAGS=(--dataset=synthetic '--dataset_options={"height":8,"width":8,"train_size":480}'
       --model=mlp '--model_options={"hidden":[64,64,64,64],"dropout":0.2}'
       --batch_size=48 --epochs=5 --checkpoint_every_steps=10 --keep_last=100 --threads=1
       --progress=never --log_interval=0 --dist_timeout_s=20 --log_all_ranks)
ADAM=(--optimizer=adam --lr=0.001)
SGD=(--optimizer=sgd --lr=0.05 --momentum=0.9)

# The bytes of optimizer state rank $2 reports in log $1 at the end.
state_bytes() {
  grep -o "Optimizer state on rank $2: [0-9]* bytes" "$1" | tail -1 | grep -o '[0-9]* bytes' |
    grep -o '[0-9]*'
}

# Every parameter's optimizer state in checkpoint $1 is in the file of one
# rank, every one of the $2 ranks holds some, and the manifest lists every
# parameter with state.
state_held_by_its_owner() {
  /usr/bin/python3 -c "
import json, sys
directory, world = sys.argv[1], int(sys.argv[2])
manifest = json.load(open(directory + '/checkpoint.json'))
files = manifest['files']
holders = {}
for name, record in manifest['tensors'].items():
    if name.startswith('optimizer.'):
        parameter = '.'.join(name.split('.')[1:3])
        holders.setdefault(parameter, set()).add(files[record['file']]['rank'])
owners = {p: min(r) for p, r in holders.items()}
counts = [sum(1 for o in owners.values() if o == k) for k in range(world)]
print('     parameters whose state each rank wrote: %s' % counts)
sys.exit(not (all(len(r) == 1 for r in holders.values()) and all(counts) and
              sorted(holders) == sorted(manifest['optimizer_parameters_with_state'])))" "$1" "$2"
}

for optimizer in adam sgd; do
  if [[ ${optimizer} == adam ]]; then args=("${ADAM[@]}"); else args=("${SGD[@]}"); fi
  check "${optimizer}: 2 unsharded ranks train 50 steps" run_ranks 2 "plain_${optimizer}" "${args[@]}"
  check "${optimizer}: 2 ranks with --shard_optimizer_state train 50 steps" \
    run_ranks 2 "zero_${optimizer}" "${args[@]}" --shard_optimizer_state
  check "... both at step 50" test "$(newest_step "zero_${optimizer}")" -eq 50 \
    -a "$(newest_step "plain_${optimizer}")" -eq 50
  check "... byte-identical to the unsharded run: weights, optimizer state, generators, metrics" \
    same_run "plain_${optimizer}" "zero_${optimizer}"
  check "... and so at every checkpoint (step 20)" \
    same_tensors "plain_${optimizer}/checkpoints/step-0000000020" \
    "zero_${optimizer}/checkpoints/step-0000000020"
  check "... each parameter's state written by the rank that owns it, both ranks writing" \
    state_held_by_its_owner "$(newest_checkpoint "zero_${optimizer}")" 2
  whole=$(state_bytes "plain_${optimizer}.rank0.log" 0)
  mine0=$(state_bytes "zero_${optimizer}.rank0.log" 0)
  mine1=$(state_bytes "zero_${optimizer}.rank1.log" 1)
  check "... optimizer state per rank measured: ${mine0:-?} and ${mine1:-?} bytes of ${whole:-?} (about 1/2 each)" \
    /usr/bin/python3 -c "
import sys
whole, mine = int('${whole:-0}'), [int('${mine0:-0}'), int('${mine1:-0}')]
sys.exit(not (whole > 0 and sum(mine) == whole and all(0.4 <= m / whole <= 0.6 for m in mine)))"
done

check "2 sharded ranks with --async_checkpoint (each writing its own state in the background)" \
  run_ranks 2 zero_async "${ADAM[@]}" --shard_optimizer_state --async_checkpoint
check "... to the same checkpoints, tensor for tensor" same_run zero_adam zero_async

# --- Resuming the sharded Adam run's checkpoint of step 20.
from_checkpoint zero_adam step-0000000020 zero_again
check "2 sharded ranks resume its step-20 checkpoint and run to the end" \
  run_ranks 2 zero_again "${ADAM[@]}" --shard_optimizer_state --resume
check "... byte-identical to the run that never stopped" same_run zero_adam zero_again
read_line=$(grep -o 'Rank 1 read and verified [0-9]* bytes of tensors .*(of [0-9]* bytes' \
            zero_again.rank1.log)
read_bytes=$(echo "${read_line}" | grep -o 'verified [0-9]*' | grep -o '[0-9]*')
file_bytes=$(echo "${read_line}" | grep -o 'of [0-9]* bytes$' | grep -o '[0-9]*')
check "... rank 1 reading the model and its own state only: ${read_bytes:-?} of ${file_bytes:-?} bytes" \
  test -n "${read_bytes}" -a -n "${file_bytes}" -a "$((${read_bytes:-1} * 4))" -lt "$((${file_bytes:-0} * 3))"
kept0=$(grep -o 'rank 0 kept [0-9]* bytes of tensors' zero_again.rank0.log | grep -o '[0-9]*' | tail -1)
check "... rank 0 verifying all of it, keeping the model and its own state only: ${kept0:-?} bytes" \
  test -n "${kept0}" -a "$((${kept0:-1} * 4))" -lt "$((${file_bytes:-0} * 3))"

from_checkpoint zero_adam step-0000000020 one_from_zero
from_checkpoint plain_adam step-0000000020 one_from_plain
check "1 rank resumes the sharded checkpoint of step 20 (all the state reassembled)" \
  run_ranks 1 one_from_zero "${ADAM[@]}" --resume
check "... from the same global position" \
  grep -q "saved by 2 rank(s) and this run has 1: the same global sample position" \
  one_from_zero.rank0.log
check "1 rank resumes the unsharded run's checkpoint of step 20" \
  run_ranks 1 one_from_plain "${ADAM[@]}" --resume
check "... the two 1-rank continuations byte-identical" same_run one_from_zero one_from_plain

from_checkpoint zero_adam step-0000000020 three_from_zero
from_checkpoint plain_adam step-0000000020 three_from_plain
check "3 sharded ranks resume the 2-rank sharded checkpoint (state repartitioned)" \
  run_ranks 3 three_from_zero "${ADAM[@]}" --shard_optimizer_state --resume
check "... from the same global position" \
  grep -q "saved by 2 rank(s) and this run has 3: the same global sample position" \
  three_from_zero.rank0.log
check "... each parameter's state now written by its owner of 3" \
  state_held_by_its_owner "$(newest_checkpoint three_from_zero)" 3
check "3 unsharded ranks resume the unsharded run's checkpoint of step 20" \
  run_ranks 3 three_from_plain "${ADAM[@]}" --resume
check "... the sharded and unsharded 3-rank continuations byte-identical" \
  same_run three_from_zero three_from_plain

# --- Export: the state both ranks wrote, as PyTorch's Adam holds it.
"${CKPT}" export "$(newest_checkpoint zero_adam)" zero.pt --format=pytorch_checkpoint > export.log 2>&1
"${CKPT}" export "$(newest_checkpoint plain_adam)" plain.pt --format=pytorch_checkpoint \
  >> export.log 2>&1
check "exported to PyTorch, the sharded run's state loads into torch.optim.Adam, equal to the unsharded run's" \
  /usr/bin/python3 -c "
import sys, torch
def mlp():  # the mlp plugin's layers, by its names
    model = torch.nn.Module()
    sizes = [64, 64, 64, 64, 64, 10]
    model.layers = torch.nn.ModuleList(
        [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    return model
def load(path):
    d = torch.load(path)
    model = mlp()
    model.load_state_dict(d['model_state_dict'])
    optimizer = torch.optim.Adam(model.parameters())
    optimizer.load_state_dict(d['optimizer_state_dict'])
    return [optimizer.state[p] for p in model.parameters()]
zero, plain = load('zero.pt'), load('plain.pt')
same = all(torch.equal(a[k], b[k]) for a, b in zip(zero, plain) for k in ('exp_avg', 'exp_avg_sq'))
print('     %d parameters with Adam state, step %d' % (len(zero), int(zero[0]['step'])))
sys.exit(not (same and len(zero) == 10 and all(int(s['step']) == 50 for s in zero)))"

# --- A PyTorch training dict restores all the state on every rank; each
# sharded rank keeps its own once training starts.
check "2 sharded ranks start from the exported PyTorch dict (--resume_from) for a 6th epoch" \
  run_ranks 2 zero_from_pt "${ADAM[@]}" --shard_optimizer_state --resume_from=zero.pt --epochs=6
check "... each parameter's state then written by its owner only" \
  state_held_by_its_owner "$(newest_checkpoint zero_from_pt)" 2
check "2 unsharded ranks do the same from the unsharded run's dict" \
  run_ranks 2 plain_from_pt "${ADAM[@]}" --resume_from=plain.pt --epochs=6
check "... the two byte-identical" same_run zero_from_pt plain_from_pt

finish_checks
