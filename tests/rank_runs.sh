# Sourced by the data-parallel shell tests, after shell_checks.sh: ranks of
# $TRAIN started as a PyTorchJob starts them (environment variables, rank 0
# hosting the store on a free loopback port), each with "${FLAGS[@]}".
#
#   start_ranks WORLD RUN_DIR ARGS...  every rank in the background; pids in
#                                      rank_pids, logs in RUN_DIR.rank<r>.log;
#                                      $RANK1_FAULT arms rank 1's fault injector
#   run_ranks WORLD RUN_DIR ARGS...    every rank to the end; fails if any does
#   finished EPOCHS LOG                the log says the run finished
#   from_checkpoint RUN CHECKPOINT DIR a run directory DIR holding a copy of
#                                      RUN's checkpoint CHECKPOINT only
#   written_by_every_rank CKPT WORLD   each rank wrote a file of CKPT, and
#                                      every file is there at its size
#   only_committed_checkpoints RUN     nothing but step-N directories

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_ranks() {
  local world=$1 run_dir=$2 port rank
  shift 2
  port=$(free_port)
  rank_pids=()
  for ((rank = 0; rank < world; rank++)); do
    local fault=""
    [[ ${rank} -eq 1 ]] && fault=${RANK1_FAULT:-}
    TORCHTRAIN_FAULT=${fault} RANK=${rank} WORLD_SIZE=${world} LOCAL_RANK=${rank} \
      MASTER_ADDR=127.0.0.1 MASTER_PORT=${port} \
      "${TRAIN}" "${FLAGS[@]}" --run_dir="${run_dir}" "$@" > "${run_dir}.rank${rank}.log" 2>&1 &
    rank_pids+=($!)
  done
}

run_ranks() {
  local status=0 pid
  start_ranks "$@"
  for pid in "${rank_pids[@]}"; do wait "${pid}" || status=1; done
  return ${status}
}

finished() { grep -q "Finished $1 epoch(s)" "$2"; }

from_checkpoint() {
  rm -rf "$3"
  mkdir -p "$3/checkpoints"
  cp -r "$1/checkpoints/$2" "$3/checkpoints/"
}

only_committed_checkpoints() {
  [[ -z $(ls "$1/checkpoints" | grep -v '^step-[0-9]*$') ]]
}

written_by_every_rank() {
  /usr/bin/python3 -c "
import json, os, sys
directory, world = sys.argv[1], int(sys.argv[2])
manifest = json.load(open(directory + '/checkpoint.json'))
files = manifest['files']
ranks = sorted({record['rank'] for record in files.values()})
for name, record in sorted(files.items()):
    print('     %-36s rank %d, %7d bytes' % (name, record['rank'], record['bytes']))
sizes_right = all(os.path.getsize(directory + '/' + n) == r['bytes'] for n, r in files.items())
used = {t['file'] for t in manifest['tensors'].values()}
sys.exit(not (ranks == list(range(world)) and sizes_right and used <= set(files) and
              manifest['world_size'] == world))" "$1" "$2"
}
