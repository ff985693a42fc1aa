#!/usr/bin/env bash
# Our data pipeline (image_folder + transforms + BatchPrefetcher, data_loading.cc)
# against torchvision's ImageFolder + DataLoader (torchvision_loading.py),
# side by side in one run on the same files and the same transforms, at 1
# and 2 workers, alternating in ROUNDS rounds (median reported):
#   (a) Fashion-MNIST's 28x28 PNGs (//tools:export_dataset), gray, normalize;
#   (b) 256x256 JPEGs (quality 90, smooth random images from PIL) with
#       random-resized-crop 224 + horizontal flip + normalize.
# Also the CPU time per image of each side (user+sys, all processes), to
# show which resource bounds it. Prints a table; never a test.
# usage: bazel run //benchmarks:data_loading -- [ROUNDS [PNG_IMAGES [JPEG_IMAGES]]]
set -euo pipefail
rounds=${1:-3}
png_images=${2:-10000}
jpeg_images=${3:-2000}
runfiles=${RUNFILES_DIR:-$0.runfiles}/torchtrain
ours=${runfiles}/benchmarks/data_loading_pipeline
theirs=${runfiles}/benchmarks/torchvision_loading.py
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

"${runfiles}/tools/export_dataset" --out="${work}/png" --train_samples="${png_images}" --valid_samples=500 > /dev/null
/usr/bin/python3 - "${work}/jpeg" "${jpeg_images}" << 'PY'
import os, sys, numpy
from PIL import Image
out, count = sys.argv[1], int(sys.argv[2])
rng = numpy.random.default_rng(0)
for split, n in (("train", count), ("valid", 10)):
    for i in range(n):
        folder = "%s/%s/%d" % (out, split, i % 10)
        os.makedirs(folder, exist_ok=True)
        small = rng.integers(0, 256, (16, 16, 3), dtype=numpy.uint8)
        image = Image.fromarray(small).resize((256, 256), Image.BICUBIC)
        image.save("%s/%06d.jpg" % (folder, i), quality=90)
PY

run() {  # run CASE COMMAND...: its JSON line, with the CPU time per image
  local case=$1
  shift
  /usr/bin/python3 -c "
import json, resource, subprocess, sys
out = subprocess.run(sys.argv[2:], check=True, capture_output=True, text=True).stdout
used = resource.getrusage(resource.RUSAGE_CHILDREN)
line = json.loads(out.strip().splitlines()[-1])
line['cpu_ms_per_image'] = 1000 * (used.ru_utime + used.ru_stime) / line['images']
line['case'] = sys.argv[1]
print(json.dumps(line))" "${case}" "$@"
}

rrc='[{"random_resized_crop": {"size": 224}}, {"horizontal_flip": {}}]'
for round in $(seq "${rounds}"); do
  for workers in 1 2; do
    run png "${ours}" --data_dir="${work}/png" --dataset_options='{"mode": "gray"}' --workers=${workers}
    run png /usr/bin/python3 "${theirs}" --data_dir="${work}/png" --kind=png --workers=${workers}
    run jpeg "${ours}" --data_dir="${work}/jpeg" --transforms="${rrc}" --workers=${workers}
    run jpeg /usr/bin/python3 "${theirs}" --data_dir="${work}/jpeg" --kind=jpeg --workers=${workers}
  done
done > "${work}/results.jsonl"

/usr/bin/python3 - "${work}/results.jsonl" "$(nproc)" << 'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("data loading, images/s (median of %d rounds), %s cores" % (len(rows) // 8, sys.argv[2]))
print("%-5s %7s %12s %12s %6s %16s %16s" % ("case", "workers", "ours", "torchvision", "ratio",
                                            "ours cpu ms/img", "tv cpu ms/img"))
for case in ("png", "jpeg"):
    for workers in (1, 2):
        pick = lambda side, key: statistics.median(
            r[key] for r in rows if r["case"] == case and r["workers"] == workers and r["side"] == side)
        ours, theirs = pick("ours", "images_per_s"), pick("torchvision", "images_per_s")
        print("%-5s %7d %12.0f %12.0f %5.2fx %16.3f %16.3f" % (
            case, workers, ours, theirs, ours / theirs, pick("ours", "cpu_ms_per_image"),
            pick("torchvision", "cpu_ms_per_image")))
PY
