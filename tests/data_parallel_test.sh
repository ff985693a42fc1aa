#!/usr/bin/env bash
# Data-parallel runs as users launch them: the experiment binary started
# directly by torchrun (--standalone, and two single-process "nodes" on
# 127.0.0.1), or by hand with the variables a PyTorchJob sets. Checks that
# every launch trains the same weights to the bit; that kill -9 of one rank
# under torchrun, then --resume, ends byte-identical to a run that never
# stopped; that SIGTERM to one rank stops every rank at one step with one
# checkpoint; that when a rank dies the others exit non-zero in bounded time
# naming it, leaving only committed checkpoints; that runs resume at another
# world size (2 -> 1, 1 -> 2); that gradient clipping sees the averaged
# gradients; that a GPT on token files read on demand trains with 2 ranks
# what it does with 1; that a rank left alone gives up after
# --dist_timeout_s, saying why; and that bad launches get clear errors.
# Loopback only; ports are free ones; every process is waited for.
#
# Where a kill lands depends on timing; each interruption is asserted to
# have happened before the run finished.
set -u
LENET=$(realpath "$1")     # //experiments:lenet, flag file embedded
TORCHRUN=$(realpath "$2")  # tools/torchrun
TOKENIZE=$(realpath "$3")
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"
export TMPDIR="${TEST_TMPDIR}"  # torchrun's log directories

# An MLP with dropout, so that each rank's generator must be restored; 20
# epochs of 8 steps of 64 samples, a checkpoint every 4 steps.
FLAGS=(--dataset=synthetic --model=mlp '--model_options={"hidden":[256,256],"dropout":0.3}'
       --epochs=20 --checkpoint_every_steps=4 --keep_last=100 --threads=1 --progress=never
       --log_interval=0 --dist_timeout_s=60)

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_rank RANK WORLD PORT LOG ARGS...: one rank, launched as a PyTorchJob
# would (rank 0 hosts the store); its pid in rank_pid.
start_rank() {
  local rank=$1 world=$2 port=$3 log=$4
  shift 4
  # No wrapper (such as timeout): the pid must be the rank's own, for kill -9.
  RANK=${rank} WORLD_SIZE=${world} LOCAL_RANK=${rank} MASTER_ADDR=127.0.0.1 MASTER_PORT=${port} \
    "${LENET}" "${FLAGS[@]}" "$@" > "${log}" 2>&1 &
  rank_pid=$!
}

# run_ranks WORLD RUN_DIR ARGS...: every rank to the end; fails if any does.
run_ranks() {
  local world=$1 run_dir=$2 port pids=() status=0
  shift 2
  port=$(free_port)
  for ((rank = 0; rank < world; rank++)); do
    start_rank "${rank}" "${world}" "${port}" "${run_dir}.rank${rank}.log" --run_dir="${run_dir}" "$@"
    pids+=("${rank_pid}")
  done
  for pid in "${pids[@]}"; do wait "${pid}" || status=1; done
  return ${status}
}

finished() { grep -q "Finished 20 epoch(s)" "$1"; }

wait_for_checkpoint() {
  for _ in $(seq 3000); do
    compgen -G "$1/checkpoints/step-*/checkpoint.json" > /dev/null && return 0
    sleep 0.01
  done
  return 1
}

# The pid of torchrun's worker of rank $2 (a child of torchrun, pid $1).
torchrun_worker() {
  local pid
  for _ in $(seq 3000); do
    for pid in $(pgrep -P "$1"); do
      if tr '\0' '\n' < "/proc/${pid}/environ" 2> /dev/null | grep -qx "RANK=$2"; then
        echo "${pid}"
        return 0
      fi
    done
    sleep 0.01
  done
  return 1
}

only_committed_checkpoints() {
  [[ -z $(ls "$1/checkpoints" | grep -v '^step-[0-9]*$') ]]
}

# --- The reference: two ranks launched by hand, never stopped.
check "2 ranks (PyTorchJob variables) train to the end" run_ranks 2 ref
check "only rank 0 writes the run directory" \
  test -f ref/metrics.jsonl -a "$(ls ref/checkpoints | wc -l)" -eq 40
check "the manifest records the world size" \
  grep -q '"world_size": *2' "ref/checkpoints/$(ls ref/checkpoints | tail -1)/checkpoint.json"
check "rank 1's generator is in the checkpoint under a rank-indexed name" \
  grep -q '"rng.cpu.rank1"' "ref/checkpoints/$(ls ref/checkpoints | tail -1)/checkpoint.json"

check "... summing gradients through shared memory (both ranks on this machine)" \
  grep -q "gradients are summed through shared memory" ref.rank0.log

# --- The same over Gloo's loopback TCP: with 2 ranks the sums are the same bits.
check "2 ranks with --shared_memory_all_reduce=false train to the end" \
  run_ranks 2 gloo --shared_memory_all_reduce=false
check "... summing over Gloo" grep -q "Gradients are summed over Gloo" gloo.rank0.log
check "... with the same weights, optimizer, generators and metrics" same_run ref gloo

# --- torchrun --standalone, 2 workers on this machine.
"${TORCHRUN}" --standalone --nproc_per_node=2 "${LENET}" "${FLAGS[@]}" --run_dir=standalone \
  > standalone.log 2>&1
check "torchrun --standalone --nproc_per_node=2 runs to the end" finished standalone.log
check "... with the same weights, optimizer, generators and metrics" same_run ref standalone

# --- Two single-process torchrun "nodes" meeting on 127.0.0.1.
port=$(free_port)
for node in 0 1; do
  "${TORCHRUN}" --nnodes=2 --node_rank=${node} --nproc_per_node=1 --master_addr=127.0.0.1 \
    --master_port="${port}" "${LENET}" "${FLAGS[@]}" --run_dir=nodes > "nodes.${node}.log" 2>&1 &
  node_pids[node]=$!
done
wait "${node_pids[0]}"; node0=$?
wait "${node_pids[1]}"; node1=$?
check "two torchrun nodes on 127.0.0.1 run to the end" test ${node0} -eq 0 -a ${node1} -eq 0
check "... with the same weights, optimizer, generators and metrics" same_run ref nodes

# --- A launcher-hosted store (torchrun 2.x's agent store: every rank a client,
# keys under /worker/attempt_<n>), played by Python's TCPStore.
port=$(free_port)
/usr/bin/python3 -c "
import datetime, sys, time
import torch.distributed as dist
store = dist.TCPStore('127.0.0.1', int(sys.argv[1]), 3, True, datetime.timedelta(seconds=120))
time.sleep(120)" "${port}" > agent_store.log 2>&1 &
agent_store=$!
for rank in 0 1; do
  TORCHELASTIC_USE_AGENT_STORE=True TORCHELASTIC_RESTART_COUNT=3 TORCHELASTIC_RUN_ID=test \
    RANK=${rank} WORLD_SIZE=2 LOCAL_RANK=${rank} MASTER_ADDR=127.0.0.1 MASTER_PORT=${port} \
    "${LENET}" "${FLAGS[@]}" --run_dir=agent > "agent.rank${rank}.log" 2>&1 &
  agent_pids[rank]=$!
done
wait "${agent_pids[0]}"; agent0=$?
wait "${agent_pids[1]}"; agent1=$?
kill "${agent_store}"; wait "${agent_store}" 2> /dev/null
check "2 ranks as clients of a launcher's store run to the end" \
  test ${agent0} -eq 0 -a ${agent1} -eq 0 -a -n "$(grep "(torchrun's agent)" agent.rank0.log)"
check "... with the same weights, optimizer, generators and metrics" same_run ref agent

# --- kill -9 of one rank under torchrun, then --resume under torchrun.
"${TORCHRUN}" --standalone --nproc_per_node=2 "${LENET}" "${FLAGS[@]}" --run_dir=killed \
  > killed.log 2>&1 &
launcher=$!
worker=$(torchrun_worker "${launcher}" 1)
wait_for_checkpoint killed
kill -9 "${worker}"
wait "${launcher}"; launcher_status=$?
check "kill -9 of rank 1 landed before the end (torchrun exit ${launcher_status})" \
  test ${launcher_status} -ne 0 -a "$(newest_step killed)" -lt 160
check "... leaving only committed checkpoints" only_committed_checkpoints killed
"${TORCHRUN}" --standalone --nproc_per_node=2 "${LENET}" "${FLAGS[@]}" --run_dir=killed --resume \
  > killed.resume.log 2>&1
check "--resume under torchrun runs to the end" finished killed.resume.log
check "... byte-identical to the run that never stopped" same_run ref killed

# --- SIGTERM to one rank: every rank stops at the same step, one checkpoint.
port=$(free_port)
start_rank 0 2 "${port}" term.rank0.log --run_dir=term --log_all_ranks; pid0=${rank_pid}
start_rank 1 2 "${port}" term.rank1.log --run_dir=term --log_all_ranks; pid1=${rank_pid}
wait_for_checkpoint term
kill -TERM "${pid1}"
wait "${pid0}"; status0=$?
wait "${pid1}"; status1=$?
stop0=$(grep -o 'Stopped because another rank was signalled at global step [0-9]*' term.rank0.log |
        grep -o '[0-9]*$')
stop1=$(grep -o 'Stopped by signal 15 (Terminated) at global step [0-9]*' term.rank1.log |
        grep -o '[0-9]*$')
check "SIGTERM to rank 1 stopped both ranks cleanly before the end (steps ${stop0:-?}, ${stop1:-?})" \
  test ${status0} -eq 0 -a ${status1} -eq 0 -a -n "${stop0}" -a "${stop0}" = "${stop1:-x}"
check "... at the step of the newest checkpoint, saved once" \
  test "$(newest_step term)" = "${stop0:-x}" -a \
  "$(ls term/checkpoints | grep -c "^step-0*${stop0:-x}")" -eq 1
check "... which --resume continues to the same end" run_ranks 2 term --resume
check "... byte-identical to the run that never stopped" same_run ref term

# --- A rank that dies: the others exit non-zero, naming it, in bounded time.
for victim in 1 0; do
  survivor=$((1 - victim))
  port=$(free_port)
  start_rank 0 2 "${port}" dead${victim}.rank0.log --run_dir=dead${victim}; pids[0]=${rank_pid}
  start_rank 1 2 "${port}" dead${victim}.rank1.log --run_dir=dead${victim}; pids[1]=${rank_pid}
  wait_for_checkpoint dead${victim}
  kill -9 "${pids[victim]}"
  killed_at=${SECONDS}
  wait "${pids[victim]}"
  wait "${pids[survivor]}"; status=$?
  took=$((SECONDS - killed_at))
  check "kill -9 of rank ${victim}: rank ${survivor} exits non-zero (${status}) in ${took} s < 60 s" \
    test ${status} -ne 0 -a ${took} -lt 60
  check "... saying rank ${victim} is gone" grep -q "rank ${victim} is gone" \
    dead${victim}.rank${survivor}.log
  check "... leaving only committed checkpoints" only_committed_checkpoints dead${victim}
  # Rank 0 names its segment after its pid, and unlinks it once both mapped it.
  check "... and no shared memory segment in /dev/shm" \
    test -z "$(ls /dev/shm | grep "^torchtrain-allreduce-${pids[0]}-")"
done
check "--resume after a dead rank runs to the end" run_ranks 2 dead1 --resume
check "... byte-identical to the run that never stopped" same_run ref dead1

# --- Another world size on resume: 2 -> 1 and 1 -> 2, from the middle of an epoch.
run_ranks 2 shrink --epochs=20 --checkpoint_every_steps=4 > /dev/null 2>&1 &
shrink_pid=$!
wait_for_checkpoint shrink
sleep 0.2
kill -TERM $(pgrep -f -- "--run_dir=shrink" | head -1) 2> /dev/null
wait "${shrink_pid}"
shrink_step=$(newest_step shrink)
"${LENET}" "${FLAGS[@]}" --run_dir=shrink --resume > shrink.resume.log 2>&1
check "2 -> 1 ranks: resumed at step ${shrink_step} and ran to the end" \
  grep -q "Finished 20 epoch(s)" shrink.resume.log
check "... saying each rank's generator is derived afresh" \
  grep -q "saved by 2 rank(s) and this run has 1" shrink.resume.log
check "... with all 20 epochs in metrics.jsonl" test "$(wc -l < shrink/metrics.jsonl)" -eq 20
"${LENET}" "${FLAGS[@]}" --run_dir=grow --epochs=1 > grow.log 2>&1
run_ranks 2 grow --resume
check "1 -> 2 ranks: resumed after epoch 1 and ran to the end" finished grow.rank0.log
check "... saying each rank's generator is derived afresh" \
  grep -q "saved by 1 rank(s) and this run has 2" grow.rank0.log
check "... with all 20 epochs in metrics.jsonl" test "$(wc -l < grow/metrics.jsonl)" -eq 20

# --- Clipping sees the gradients averaged over the ranks: 2 ranks clip as 1
# rank does (the same norms, up to the order of the sums); clipping each
# rank's own half-batch gradient would give other, larger norms.
clip=(--epochs=2 --clip_grad_norm=0.05 --checkpoint_every_steps=0 --keep_last=1
      '--model_options={"hidden":[256,256],"dropout":0}')  # no dropout: the same model on both
"${LENET}" "${FLAGS[@]}" "${clip[@]}" --run_dir=clip1 > clip1.log 2>&1
check "2 ranks clipping by norm train to the end" run_ranks 2 clip2 "${clip[@]}"
check "... with the 1-rank run's norms before clipping (relative 1e-5)" /usr/bin/python3 -c "
import json, sys
one = [json.loads(l)['grad_norm'] for l in open('clip1/steps.jsonl')]
two = [json.loads(l)['grad_norm'] for l in open('clip2/steps.jsonl')]
worst = max(abs(a - b) / b for a, b in zip(one, two))
print('     %d steps, worst relative difference %.2g' % (len(one), worst))
sys.exit(not (len(one) == len(two) == 16 and worst <= 1e-5))"

# --- Token windows read on demand split over the ranks as images in memory
# do: a GPT on token_file trains with 2 ranks what it does with 1.
"${TOKENIZE}" --input=/usr/share/games/fortunes/computers --out=tokens > tokenize.log 2>&1
gpt=(--model=gpt '--model_options={"n_layer":1,"n_head":2,"n_embd":32,"dropout":0}'
     --trainer=language_model --dataset=token_file --data_dir=tokens
     '--dataset_options={"block_size":32,"valid_windows":32}' --train_samples=128 --batch_size=16
     --optimizer=adamw --lr=0.003 --weight_decay_params=matrices --epochs=2
     --checkpoint_every_steps=0 --keep_last=1)
"${LENET}" "${FLAGS[@]}" "${gpt[@]}" --run_dir=gpt1 > gpt1.log 2>&1
check "a GPT on token files trains with 2 ranks" run_ranks 2 gpt2 "${gpt[@]}"
check "... the 1-rank run's losses step by step and on validation (relative 1e-5)" /usr/bin/python3 -c "
import json, sys
one = [json.loads(l)['loss'] for l in open('gpt1/steps.jsonl')]
two = [json.loads(l)['loss'] for l in open('gpt2/steps.jsonl')]
one += [json.loads(l)['valid_loss'] for l in open('gpt1/metrics.jsonl')]
two += [json.loads(l)['valid_loss'] for l in open('gpt2/metrics.jsonl')]
worst = max(abs(a - b) / b for a, b in zip(one, two))
print('     %d values, worst relative difference %.2g' % (len(one), worst))
sys.exit(not (len(one) == len(two) == 18 and worst <= 1e-5))"

# --- A rank that never starts: the others give up after --dist_timeout_s, saying why.
for lone in 0 1; do
  start=${SECONDS}
  RANK=${lone} WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) \
    "${LENET}" "${FLAGS[@]}" --run_dir=lone${lone} --dist_timeout_s=5 > lone${lone}.log 2>&1
  status=$?
  took=$((SECONDS - start))
  check "rank ${lone} alone exits non-zero (${status}) after --dist_timeout_s=5 (${took} s)" \
    test ${status} -ne 0 -a ${took} -ge 4 -a ${took} -lt 30
done
check "... rank 0 asking whether every rank started" \
  grep -q "could not form the process group .* within --dist_timeout_s=5 (did every rank start" lone0.log
check "... rank 1 saying it cannot reach rank 0's store" \
  grep -q "rank 1 cannot reach the store at 127.0.0.1:[0-9]* (hosted by rank 0)" lone1.log

# --- Launches that cannot work say why, naming the flag or variable.
RANK=0 WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "${LENET}" --run_dir=bad \
  > bad_batch.log 2>&1
check "a batch that does not split over the ranks is refused, naming --batch_size" \
  grep -q -- "--batch_size (experiments/lenet.flags:[0-9]*): .*64 does not divide by the world size 3" bad_batch.log
RANK=0 WORLD_SIZE=2 "${LENET}" --run_dir=bad > bad_env.log 2>&1
check "a launch without MASTER_ADDR is refused, naming it" grep -q "MASTER_ADDR is not set" bad_env.log
RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "${LENET}" --run_dir=bad --device=cuda \
  > bad_cuda.log 2>&1
check "--device=cuda without CUDA is refused, never silently cpu" \
  grep -q -- "--device: .*cuda" bad_cuda.log
"${TORCHRUN}" --standalone --nproc_per_node=1 --no-python "${LENET}" --help > wrapper.log 2>&1
check "tools/torchrun takes --no-python too and runs the binary" grep -q "Flags, with their effective values" wrapper.log

finish_checks
