#!/usr/bin/env bash
# Peak memory of training over an image folder at two sizes of the folder:
# JPEG folders of about SMALL_MB and 10x that (512x512 noise images, quality
# 95, about 0.2 MB each), one epoch of small_cnn on random-resized crops of
# 64 with 1 data worker. The peak RSS (the process's ru_maxrss) must not grow
# with the folder: images are decoded per batch and dropped, and at most the
# prefetch depth of batches waits. Prints both peaks; never a test.
# usage: bazel run //benchmarks:data_memory -- [SMALL_MB]
set -euo pipefail
small_mb=${1:-100}
runfiles=${RUNFILES_DIR:-$0.runfiles}/torchtrain
train=${runfiles}/experiments/train
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

make_folder() {  # make_folder DIR MB
  /usr/bin/python3 - "$1" "$2" << 'PY'
import os, sys, numpy
from PIL import Image
out, megabytes = sys.argv[1], float(sys.argv[2])
rng = numpy.random.default_rng(0)
written, i = 0, 0
while written < megabytes * 1e6 or i < 20:
    split = "valid" if (i // 4) % 20 == 0 else "train"
    folder = "%s/%s/%d" % (out, split, i % 4)
    os.makedirs(folder, exist_ok=True)
    path = "%s/%06d.jpg" % (folder, i)
    Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=numpy.uint8)).save(path, quality=95)
    written += os.path.getsize(path)
    i += 1
print(i, written)
PY
}

echo "peak RSS of one epoch over a JPEG folder (small_cnn, random_resized_crop 64, 1 worker)"
for mb in "${small_mb}" "$((small_mb * 10))"; do
  read -r images bytes < <(make_folder "${work}/images_${mb}" "${mb}")
  /usr/bin/python3 -c "
import resource, subprocess, sys
subprocess.run(sys.argv[3:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print('%6d images, %7.0f MB of JPEG: peak RSS %5.0f MB' % (int(sys.argv[1]), int(sys.argv[2]) / 1e6, peak))" \
    "${images}" "${bytes}" "${train}" --model=small_cnn --dataset=image_folder \
    --data_dir="${work}/images_${mb}" --transforms='[{"random_resized_crop": {"size": 64}}, {"horizontal_flip": {}}]' \
    --valid_transforms='[{"resize": {"size": 64}}, {"center_crop": {"size": 64}}]' --epochs=1 \
    --batch_size=64 --eval_batch_size=64 --data_workers=1 --threads=1 --run_dir="${work}/run_${mb}" \
    --progress=never --log_interval=0
  rm -rf "${work}/images_${mb}" "${work}/run_${mb}"
done
