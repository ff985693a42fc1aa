#!/usr/bin/env bash
# The data a researcher brings, end to end: //tools:export_dataset writes
# Fashion-MNIST as PNG class folders and as WebDataset tar shards, which
# independent readers (torchvision's ImageFolder, Python's tarfile and PIL)
# read back as the idx files' pixels and labels; LeNet trained from the tar
# shards ends byte-identical to the same run on the idx files; 0, 1 and 4
# data workers give byte-identical weights with random augmentations on,
# from both layouts; a run with 2 workers killed with -9 at random moments
# (seed logged) and resumed ends byte-identical; bad shards and images stop
# the run naming the file and member; nothing is written into the data
# directories; //tools:evaluate applies the validation transforms that a
# checkpoint, or a whole-model file exported from it, records.
set -u
TRAIN="$(realpath "$1")"
EXPORT="$(realpath "$2")"
EVALUATE="$(realpath "$3")"
CKPT="$(realpath "$4")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

seed=${KILL_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "     kill moments drawn with seed ${seed} (KILL_SEED=${seed} repeats them)"
RANDOM=${seed}

"${EXPORT}" --out=tar --format=tar_shards --shard_size=1000 --train_samples=3000 --valid_samples=500 > export_tar.log 2>&1
check "export_dataset writes tar shards" test $? -eq 0
"${EXPORT}" --out=png --format=image_folder --train_samples=3000 --valid_samples=500 > export_png.log 2>&1
check "export_dataset writes an image folder" test $? -eq 0
"${EXPORT}" --out=png --format=image_folder > again.log 2>&1
check "export_dataset writes over nothing" grep -q "png exists and is not empty; nothing is written over" again.log
"${EXPORT}" --out=synthetic --dataset=synthetic > synthetic.log 2>&1
check "a data set that is not 8-bit images is refused" grep -q "does not record how its inputs were made from 8-bit pixels" synthetic.log

check "torchvision's ImageFolder and tarfile + PIL read the idx files' pixels and labels back" /usr/bin/python3 -c "
import gzip, io, numpy, tarfile, sys
from PIL import Image
import torchvision
def idx(name, offset):
    return numpy.frombuffer(gzip.open('/usr/share/datasets/fashion-mnist/' + name).read(), numpy.uint8, offset=offset)
images = idx('train-images-idx3-ubyte.gz', 16).reshape(-1, 28, 28)[:3000]
labels = idx('train-labels-idx1-ubyte.gz', 8)[:3000]
folder = torchvision.datasets.ImageFolder('png/train')
assert len(folder) == 3000, len(folder)
for path, target in folder.samples:
    index = int(path.rsplit('/', 1)[1].split('.')[0])
    assert target == labels[index], (path, target, labels[index])
    assert (numpy.asarray(Image.open(path)) == images[index]).all(), path
n = 0
for shard in range(3):
    with tarfile.open('tar/train-%06d.tar' % shard) as t:
        members = t.getmembers()
        for png, cls in zip(members[0::2], members[1::2]):
            index = int(png.name.split('.')[0])
            assert index == n and cls.name == '%08d.cls' % n, (png.name, cls.name, n)
            assert int(t.extractfile(cls).read()) == labels[n]
            assert (numpy.asarray(Image.open(io.BytesIO(t.extractfile(png).read()))) == images[n]).all()
            n += 1
sys.exit(n != 3000)"

touch marker
sleep 1
common=(--model=lenet --optimizer=sgd --lr=0.05 --momentum=0.9 --batch_size=64 --epochs=2
        --seed=3 --threads=1 --log_interval=0 --progress=never --train_samples=3000)
tar_data=(--dataset=tar_shards --data_dir=tar --dataset_options='{"mode": "gray"}')
png_data=(--dataset=image_folder --data_dir=png --dataset_options='{"mode": "gray"}')

"${TRAIN}" "${common[@]}" --run_dir=idx > idx.log 2>&1
check "the run on the idx files exits 0" test $? -eq 0
"${TRAIN}" "${common[@]}" "${tar_data[@]}" --data_workers=2 --run_dir=from_tar > from_tar.log 2>&1
check "the run on the tar shards exits 0" test $? -eq 0
check "it read the shards through their index, cached in the run directory" \
  test "$(ls from_tar/data_cache | grep -c '^train-00000[0-2].tar.*index.json$')" -eq 3
check "tar shards (the data set's order) train byte-identical weights to the idx files" \
  cmp "$(newest_checkpoint idx)/model.safetensors" "$(newest_checkpoint from_tar)/model.safetensors"
"${TRAIN}" "${common[@]}" "${tar_data[@]}" --run_dir=from_tar_again > again.log 2>&1
check "a second run reuses the cached index" grep -q "tar_shards train: 3000 samples in 3 shard(s)" again.log

augment=(--transforms='[{"random_crop": {"size": 28, "padding": 3}}, {"horizontal_flip": {}}]'
         --valid_transforms='[{"center_crop": {"size": 28}}]' --epochs=1)
for layout in tar png; do
  data=("${tar_data[@]}")
  [[ ${layout} == png ]] && data=("${png_data[@]}")
  for workers in 0 1 4; do
    "${TRAIN}" "${common[@]}" "${data[@]}" "${augment[@]}" --data_workers=${workers} \
      --run_dir=${layout}_workers_${workers} > ${layout}_workers_${workers}.log 2>&1
    check "${layout}: ${workers} workers with augmentations exits 0" test $? -eq 0
  done
  for workers in 1 4; do
    check "${layout}: ${workers} workers give the weights of 0, to the bit" \
      cmp "$(newest_checkpoint ${layout}_workers_0)/model.safetensors" \
          "$(newest_checkpoint ${layout}_workers_${workers})/model.safetensors"
  done
done
"${TRAIN}" "${common[@]}" "${tar_data[@]}" --epochs=1 --run_dir=tar_plain > tar_plain.log 2>&1
check "the augmentations did change the training" \
  bash -c "! cmp -s $(newest_checkpoint tar_plain)/model.safetensors $(newest_checkpoint tar_workers_0)/model.safetensors"

"${EVALUATE}" --weights="$(newest_checkpoint png_workers_1)" > evaluate.log 2>&1
check "evaluate on a checkpoint applies its recorded validation transforms: the run's loss" \
  /usr/bin/python3 -c "
import json, re, sys
final = json.loads(open('png_workers_1/metrics.jsonl').readlines()[-1])
loss = float(re.search(r'Validation: Loss: ([0-9.]+)', open('evaluate.log').read()).group(1))
sys.exit(abs(loss - final['valid_loss']) > 5e-5)"
"${CKPT}" export "$(newest_checkpoint png_workers_1)" png_workers_1.model --format=model > export_model.log 2>&1
"${EVALUATE}" --weights=png_workers_1.model --data_dir=png > evaluate_model.log 2>&1
check "a whole-model file exported from it carries the input pipeline: evaluate gives the run's loss" \
  /usr/bin/python3 -c "
import json, re, sys
final = json.loads(open('png_workers_1/metrics.jsonl').readlines()[-1])
loss = float(re.search(r'Validation: Loss: ([0-9.]+)', open('evaluate_model.log').read()).group(1))
sys.exit(abs(loss - final['valid_loss']) > 5e-5)"

kill_args=("${common[@]}" "${tar_data[@]}" "${augment[@]}" --epochs=2 --data_workers=2
           --checkpoint_every_steps=4 --keep_last=100)
"${TRAIN}" "${kill_args[@]}" --run_dir=straight > straight.log 2>&1
check "the uninterrupted 2-worker run exits 0" test $? -eq 0
kill_and_resume_repeatedly killed 8 "${TRAIN}" "${kill_args[@]}"
check "at least 2 kills -9 landed (${kills})" test "${kills}" -ge 2
"${TRAIN}" "${kill_args[@]}" --run_dir=killed --resume > last.log 2>&1
check "the last resume exits 0" test $? -eq 0
check "killed with 2 workers and resumed ends bit-identical to the run that never stopped" same_run straight killed

check "nothing was written into the data directories" test -z "$(find tar png -newer marker)"

# Bad data, named.
bad_tar() {  # bad_tar NAME: a copy of the shards to break
  rm -rf "$1" && mkdir "$1" && cp tar/*.tar "$1"/
}
bad_tar truncated && head -c 300000 tar/train-000001.tar > truncated/train-000001.tar
"${TRAIN}" "${common[@]}" "${tar_data[@]}" --data_dir=truncated --run_dir=bad1 > bad1.log 2>&1
check "a truncated shard is refused, named" grep -q "truncated/train-000001.tar: .*truncated" bad1.log
bad_tar not_integer && /usr/bin/python3 - << 'PY'
import io, tarfile
with tarfile.open('tar/train-000002.tar') as t, tarfile.open('not_integer/train-000002.tar', 'w') as out:
    for member in t.getmembers():
        data = t.extractfile(member).read()
        if member.name == '00002010.cls':
            data = b'seven'
        info = tarfile.TarInfo(member.name)
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
PY
"${TRAIN}" "${common[@]}" "${tar_data[@]}" --data_dir=not_integer --run_dir=bad2 > bad2.log 2>&1
check "a .cls that is not an integer is refused, named" \
  grep -q "not_integer/train-000002.tar: member '00002010.cls' holds 'seven', not a class index" bad2.log
"${TRAIN}" "${common[@]}" "${tar_data[@]}" --dataset_options='{"mode": "gray", "classes": 5}' --run_dir=bad3 > bad3.log 2>&1
check "a class index out of range is refused, named" \
  grep -q "tar/train-000000.tar: the class of '000000[0-9][0-9].png' is [5-9], out of range for 5 classes" bad3.log
bad_tar no_class && /usr/bin/python3 - << 'PY'
import io, tarfile
with tarfile.open('tar/train-000000.tar') as t, tarfile.open('no_class/train-000000.tar', 'w') as out:
    for member in t.getmembers():
        if member.name != '00000100.cls':
            out.addfile(member, t.extractfile(member))
PY
"${TRAIN}" "${common[@]}" "${tar_data[@]}" --data_dir=no_class --run_dir=bad4 > bad4.log 2>&1
check "a sample without its class is refused, named" \
  grep -q "no_class/train-000000.tar: sample '00000100' has no class (key.cls)" bad4.log
rm -rf corrupt && cp -r png corrupt
victim=$(ls corrupt/train/3/*.png | sed -n 5p)
head -c 100 "$(ls png/train/3/*.png | sed -n 5p)" > "${victim}"
"${TRAIN}" "${common[@]}" "${png_data[@]}" --data_dir=corrupt --run_dir=bad5 --data_workers=2 > bad5.log 2>&1
check "a corrupt image stops the run (with 2 workers), naming the file" \
  grep -q "epoch 1 batch [0-9]*: .*${victim}: cannot decode this PNG" bad5.log
check "and no checkpoint of a half-read batch exists" test ! -d bad5/checkpoints/step-0000000001

# The same bad data with --skip_bad_samples: left out, named once, counted.
skipped_in() {  # skipped_in RUN TRAIN VALID: every epoch line counts them
  /usr/bin/python3 -c "
import json, sys
lines = [json.loads(l) for l in open('$1/metrics.jsonl')]
sys.exit(not lines or any(l['train_skipped_samples'] != $2 or l['valid_skipped_samples'] != $3 for l in lines))"
}
skip=(--skip_bad_samples --checkpoint_every_steps=10 --keep_last=100)
"${TRAIN}" "${common[@]}" "${png_data[@]}" "${skip[@]}" --data_dir=corrupt --data_workers=2 --run_dir=skip5 > skip5.log 2>&1
check "skip: a corrupt image is left out and the run ends" test $? -eq 0
check "skip: it is named once, though both epochs met it" \
  test "$(grep -c "Skipping sample .*${victim}: cannot decode this PNG" skip5.log)" -eq 1
check "skip: metrics.jsonl counts it in every epoch" skipped_in skip5 1 0
"${TRAIN}" "${common[@]}" "${png_data[@]}" "${skip[@]}" --data_dir=corrupt --data_workers=2 \
  --run_dir=skip5_resumed --resume_from="$(ls -d skip5/checkpoints/step-* | sort | sed -n 4p)" > skip5r.log 2>&1
check "skip: resumed mid-run it skips the same sample and ends bit-identical" same_run skip5 skip5_resumed
"${TRAIN}" "${common[@]}" "${tar_data[@]}" "${skip[@]}" --data_dir=not_integer --run_dir=skip2 > skip2.log 2>&1
check "skip: a .cls that is not an integer is left out, named" \
  grep -q "Skipping a bad sample (--skip_bad_samples): .*not_integer/train-000002.tar: member '00002010.cls' holds 'seven'" skip2.log
check "skip: and counted" skipped_in skip2 1 0
"${TRAIN}" "${common[@]}" "${tar_data[@]}" "${skip[@]}" --data_dir=no_class --run_dir=skip4 > skip4.log 2>&1
check "skip: a sample without its class is left out, named and counted" \
  bash -c "grep -q \"no_class/train-000000.tar: sample '00000100' has no class\" skip4.log && $(declare -f skipped_in); skipped_in skip4 1 0"
"${TRAIN}" "${common[@]}" "${tar_data[@]}" "${skip[@]}" --dataset_options='{"mode": "gray", "classes": 9}' --run_dir=skip3 > skip3.log 2>&1
check "skip: classes out of range are left out and counted" \
  bash -c "test \$(grep -c 'out of range for 9 classes' skip3.log) -gt 100 && grep -q 'train_skipped_samples' skip3/metrics.jsonl"
"${TRAIN}" "${common[@]}" "${tar_data[@]}" "${skip[@]}" --data_dir=truncated --run_dir=skip1 > skip1.log 2>&1
check "skip: a truncated shard gives what it holds before the damage, named" \
  bash -c "grep -q 'truncated/train-000001.tar: .*truncated.*; its samples up to there are kept' skip1.log && grep -q 'tar_shards train: 2[0-9][0-9][0-9] samples in 3 shard' skip1.log"

finish_checks
