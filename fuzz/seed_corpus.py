#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*).

Usage: /usr/bin/python3 fuzz/seed_corpus.py RUN_DIR
where RUN_DIR is a short run of the project's own binary, e.g.
  bazel-bin/experiments/train --model=mlp --model_options='{"hidden":[4],"dropout":0.1}' \
    --dataset=synthetic --train_samples=64 --batch_size=16 --epochs=2 --optimizer=adam \
    --scheduler=step --step_size=1 --run_dir=/tmp/seedrun
.pt seeds come from Python PyTorch (/usr/bin/python3 has torch); findings of
campaigns are added beside the seeds under their own names.
"""
import gzip
import io
import json
import os
import struct
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SEPARATOR = b"\n--8<-- next file --8<--\n"


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "seed-" + name), "wb") as f:
        f.write(data)


def torch_bytes(obj, **kwargs):
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def pt_seeds():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(4, 2)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    scheduler.step()
    write("pytorch_archive", "state_dict.pt", torch_bytes(net.state_dict()))
    write("pytorch_archive", "training.pt", torch_bytes({
        "epoch": 3, "model_state_dict": net.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(), "loss": torch.tensor(0.5),
        "scheduler_state_dict": scheduler.state_dict()}))
    write("pytorch_archive", "protocol2.pt", torch_bytes(net.state_dict(), pickle_protocol=2))
    # Pickles whose storages are the four 16-byte records the pickle target
    # provides: float32 tensors of 4 elements, including a strided view.
    for name, obj, protocol in [
        ("state_dict.pkl", {"a": torch.ones(4), "b.weight": torch.zeros(2, 2),
                            "c": torch.arange(4.0)[1:3], "d": torch.ones(4, dtype=torch.int32)}, 2),
        ("training.pkl", {"epoch": 1, "model_state_dict": {"w": torch.ones(4)},
                          "optimizer_state_dict": {"state": {0: {"momentum_buffer": torch.ones(4)}},
                                                   "param_groups": [{"lr": 0.1, "params": [0]}]},
                          "loss": 0.25}, 2),
        ("protocol4.pkl", {"w": torch.ones(2, 2), "v": torch.ones(4)}, 4),
    ]:
        archive = zipfile.ZipFile(io.BytesIO(torch_bytes(obj, pickle_protocol=protocol)))
        pickle_name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
        write("pytorch_pickle", name, archive.read(pickle_name))


def idx_seeds():
    images = struct.pack(">IIII", 0x803, 2, 2, 3) + bytes(range(12))
    labels = struct.pack(">II", 0x801, 3) + bytes([0, 1, 2])
    write("idx_file", "images", images)
    write("idx_file", "labels", labels)
    write("idx_file", "images.gz", gzip.compress(images))
    write("idx_file", "labels.gz", gzip.compress(labels))


def run_seeds(run_dir):
    checkpoints = os.path.join(run_dir, "checkpoints")
    for step in sorted(os.listdir(checkpoints)):
        files = [open(os.path.join(checkpoints, step, name), "rb").read()
                 for name in ("checkpoint.json", "model.safetensors", "state.safetensors")]
        write("checkpoint", step, SEPARATOR.join(files))
        write("model_file", step + ".model.safetensors", files[1])
        write("safetensors", step + ".model.safetensors", files[1])
        write("safetensors", step + ".state.safetensors", files[2])
    for name in os.listdir(os.path.join(run_dir, "events")):
        write("event_file", "run", open(os.path.join(run_dir, "events", name), "rb").read())
    header = json.dumps({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "__metadata__": {"k": "v"}}).encode()
    write("safetensors", "small", struct.pack("<Q", len(header)) + header + b"\0" * 8)


def flag_seeds():
    write("flag_file", "lenet.flags", open(os.path.join(HERE, "..", "experiments", "lenet.flags"), "rb").read())
    write("flag_file", "mixed.flags", b"# comment\n--epochs=3\n--nocheckpoint_fsync\n-lr=0.1\n"
          b"--milestones=1,2\n--model_options={\"hidden\":[4]}\n--flagfile=/nonexistent\n")


if __name__ == "__main__":
    pt_seeds()
    idx_seeds()
    run_seeds(sys.argv[1])
    flag_seeds()
