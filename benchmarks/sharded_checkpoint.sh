#!/usr/bin/env bash
# Save and --resume of a 1 GiB model with Adam state (3.2 GB of checkpoint)
# through the experiment binary, by 1 rank, by 2 data-parallel ranks that
# each write their share (docs/data-parallel.md), and by 2 ranks with
# --shard_optimizer_state (ZeRO-1: each holds and writes its own half of the
# Adam state), with each rank's optimizer state (as it logs it) and peak
# resident memory (getrusage of the process), measured in the same run,
# with one plain write+fsync and one cold read of the same bytes by Python
# beside them (what the device itself does). The page cache is emptied of a
# checkpoint's files (fdatasync + posix_fadvise DONTNEED) before each resume.
#
#   tools/bazel build -c opt //experiments:train
#   benchmarks/sharded_checkpoint.sh [bazel-bin/experiments/train] [/var/tmp/sharded_benchmark]
#
# The save time is the one rank 0 logs ("Saved checkpoint ... S s": from the
# first byte of its share to the commit, the other ranks' shares included);
# the resume time is the one each rank logs ("read and verified N MB in S s").
set -euo pipefail
train=${1:-bazel-bin/experiments/train}
dir=${2:-/var/tmp/sharded_benchmark}
rm -rf "${dir}"
mkdir -p "${dir}"
# Four 8192x8192 layers, so that ZeRO-1's whole-parameter shares are even.
args=(--dataset=synthetic --train_samples=64 --batch_size=64 --epochs=1 --model=mlp
      --model_options='{"hidden":[8192,8192,8192,8192,8192],"dropout":0}' --optimizer=adam
      --threads=1
      --progress=never --log_interval=0 --log_all_ranks --dist_timeout_s=600)
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# ranks WORLD RUN_DIR ARGS...: every rank to the end, logs RUN_DIR.rank<r>.log,
# each ending with the rank's peak resident memory ("max RSS N MiB").
ranks() {
  local world=$1 run=$2 port pids=() rank
  shift 2
  port=$(free_port)
  for ((rank = 0; rank < world; rank++)); do
    RANK=${rank} WORLD_SIZE=${world} LOCAL_RANK=${rank} MASTER_ADDR=127.0.0.1 MASTER_PORT=${port} \
      /usr/bin/python3 -c "
import resource, subprocess, sys
status = subprocess.call(sys.argv[1:])
print('max RSS %d MiB' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))
sys.exit(status)" "${train}" "${args[@]}" --run_dir="${run}" "$@" > "${run}.rank${rank}.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
}
drop() {
  /usr/bin/python3 -c "
import os, sys
for name in sys.argv[1:]:
    fd = os.open(name, os.O_RDONLY); os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)" "$1"/*
}
echo "MLP 784-8192x5-10 (1.05 GiB of float32) with Adam; $(nproc) cores; ${dir}"
printf '%-10s %8s %7s %9s %-16s %-22s %s\n' ranks "ckpt MB" "save s" "save MB/s" \
  "resume s" "Adam state MiB by rank" "max RSS MiB by rank (train, resume)"
for setup in 1 2 2z; do
  world=${setup%z}
  run="${dir}/w${setup}"
  shard=()
  [[ ${setup} == *z ]] && shard=(--shard_optimizer_state)
  ranks "${world}" "${run}" "${shard[@]}"
  checkpoint=$(ls -d "${run}"/checkpoints/step-* | tail -1)
  save=$(grep -o 'Saved checkpoint [^ ]* ([^)]*, [0-9.e-]* s)' "${run}.rank0.log" | tail -1 |
         grep -o '[0-9.e-]* s)$' | grep -o '^[0-9.e-]*')
  mb=$(du -sm --apparent-size "${checkpoint}" | cut -f1)
  state=$(grep -ho 'Optimizer state on rank [0-9]*: [0-9]* bytes' "${run}".rank*.log |
          grep -o '[0-9]* bytes' | while read -r bytes _; do echo $((bytes >> 20)); done | tr '\n' ' ')
  rss=$(grep -ho 'max RSS [0-9]* MiB' "${run}".rank*.log | grep -o '[0-9]*' | tr '\n' ' ')
  drop "${checkpoint}"
  ranks "${world}" "${run}" --resume "${shard[@]}"
  resume=$(grep -ho 'read and verified [0-9.]* MB in [0-9.]* s' "${run}".rank*.log | grep -o 'in [0-9.]*' |
           grep -o '[0-9.]*' | tr '\n' ' ')
  rss_resume=$(grep -ho 'max RSS [0-9]* MiB' "${run}".rank*.log | grep -o '[0-9]*' | tr '\n' ' ')
  printf '%-10s %8s %7.2f %9.0f %-16s %-22s %s\n' "${setup}" "${mb}" "${save}" \
    "$(/usr/bin/python3 -c "print(${mb} / ${save})")" "${resume}" "${state}" "${rss}/ ${rss_resume}"
done
# The device: the same bytes written once with fsync, then read cold.
/usr/bin/python3 - "${dir}/plain" "$(du -sb --apparent-size "${checkpoint}" | cut -f1)" <<'PYTHON'
import os, sys, time
path, size = sys.argv[1], int(sys.argv[2])
chunk = os.urandom(8 << 20)
start = time.monotonic()
with open(path, "wb", buffering=0) as f:
    for _ in range(size // len(chunk)):
        f.write(chunk)
    os.fsync(f.fileno())
write = time.monotonic() - start
fd = os.open(path, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
buffer = bytearray(8 << 20)
start = time.monotonic()
with open(path, "rb", buffering=0) as f:
    while f.readinto(buffer):
        pass
read = time.monotonic() - start
print("device (Python, one file): write+fsync %.2f s (%.0f MB/s), cold read %.2f s (%.0f MB/s)"
      % (write, size / 1e6 / write, read, size / 1e6 / read))
os.remove(path)
PYTHON
rm -rf "${dir}"
