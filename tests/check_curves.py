"""Reads a run's TensorBoard event files with a decoder of its own (TFRecord
framing, masked CRC-32C, the few Event/Summary/SessionLog protobuf fields) and
checks them against steps.jsonl and metrics.jsonl.

usage: check_curves.py RUN_DIR [REFERENCE_RUN_DIR]
With a reference run (one that never stopped), the per-step and per-epoch
values must be equal to its, wall-clock rates aside. Prints "N passed, N
failed"; exits 1 on any failure.
"""
import glob
import json
import os
import struct
import sys

def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def records(path):
    data = open(path, "rb").read()
    offset = 0
    while offset < len(data):
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
        assert masked(crc32c(header)) == length_crc, f"{path}@{offset}: length CRC"
        payload = data[offset + 12:offset + 12 + length]
        (data_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
        assert masked(crc32c(payload)) == data_crc, f"{path}@{offset}: data CRC"
        yield payload
        offset += 16 + length

def fields(message):
    """(field number, wire type, value) of a protobuf message."""
    i = 0
    def varint():
        nonlocal i
        value = shift = 0
        while True:
            byte = message[i]; i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
    while i < len(message):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 1:
            yield number, wire, message[i:i + 8]; i += 8
        elif wire == 5:
            yield number, wire, message[i:i + 4]; i += 4
        elif wire == 2:
            length = varint()
            yield number, wire, message[i:i + length]; i += length
        else:
            raise ValueError(f"wire type {wire}")

def decode_event(payload):
    event = {"step": 0, "values": {}}
    for number, wire, value in fields(payload):
        if number == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2:
            event["step"] = value
        elif number == 3:
            event["file_version"] = value.decode()
        elif number == 5:
            for n, _, encoded in fields(value):
                assert n == 1
                tag = simple = None
                for vn, _, vv in fields(encoded):
                    if vn == 1: tag = vv.decode()
                    if vn == 2: simple = struct.unpack("<f", vv)[0]
                event["values"][tag] = simple
        elif number == 6:
            for sn, _, sv in fields(value):
                if sn == 1: event["session_status"] = sv
    return event

def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))

passed = failed = 0
def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1; print(f"ok   {name}")
    else:
        failed += 1; print(f"FAIL {name} {detail}")

def load(run_dir):
    files = sorted(glob.glob(os.path.join(run_dir, "events", "events.out.tfevents.*")))
    events = []
    for path in files:
        decoded = [decode_event(r) for r in records(path)]
        check(f"{os.path.basename(path)}: starts with brain.Event:2",
              decoded and decoded[0].get("file_version") == "brain.Event:2")
        events.extend(decoded[1:])
    scalars = {}
    duplicates = []
    for event in events:
        for tag, value in event["values"].items():
            if (tag, event["step"]) in scalars: duplicates.append((tag, event["step"]))
            scalars[(tag, event["step"])] = value
    steps = [json.loads(l) for l in open(os.path.join(run_dir, "steps.jsonl"))]
    epochs = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    return files, events, scalars, duplicates, steps, epochs

run_dir = sys.argv[1]
files, events, scalars, duplicates, steps, epochs = load(run_dir)
check("events parsed, every CRC right", len(events) > 0)
check("no (tag, step) twice across event files", not duplicates, duplicates[:5])
numbers = [s["step"] for s in steps]
check("steps.jsonl: every step once, in order", numbers == list(range(1, len(numbers) + 1)),
      numbers[:20])
check("steps.jsonl reaches the last epoch's step", numbers and numbers[-1] == epochs[-1]["step"])
train = {step: v for (tag, step), v in scalars.items() if tag == "train/loss"}
check("train/loss at exactly the steps of steps.jsonl", sorted(train) == numbers)
check("train/loss equals steps.jsonl", all(close(train[s["step"]], s["loss"]) for s in steps))
check("train/acc equals steps.jsonl",
      all(close(scalars[("train/acc", s["step"])], s["acc"]) for s in steps))
check("train/lr at every step, equal to steps.jsonl",
      all(close(scalars.get(("train/lr", s["step"]), float("nan")), s["lr"]) for s in steps))
if any("grad_norm" in s for s in steps):  # --clip_grad_norm: every step has it
    check("train/grad_norm equals steps.jsonl",
          all(close(scalars.get(("train/grad_norm", s["step"]), float("nan")),
                    s.get("grad_norm", float("nan"))) for s in steps))
# The trainer's and those callbacks add (the weights' average: valid_ema_*).
valid_keys = sorted({k[len("valid_"):] for e in epochs for k in e if k.startswith("valid_")})
check("valid/loss and valid/acc among the curves", {"loss", "acc"} <= set(valid_keys), valid_keys)
for key in valid_keys:
    check(f"valid/{key} equals metrics.jsonl every epoch",
          all(close(scalars.get((f"valid/{key}", e["step"]), float("nan")), e[f"valid_{key}"])
              for e in epochs))
check("lr per epoch", all(close(scalars[("lr", e["step"])], e["lr"]) for e in epochs))
check("checkpoint save seconds logged",
      any(tag == "checkpoint/save_seconds" for tag, _ in scalars))
check("no point past the last step", max(step for _, step in scalars) <= numbers[-1])

if len(sys.argv) > 2:
    starts = [e["step"] for e in events if e.get("session_status") == 1]
    check("the resumed segment starts with SessionLog.START", len(starts) >= 1, starts)
    _, _, ref_scalars, _, ref_steps, ref_epochs = load(sys.argv[2])
    strip = lambda s: {k: v for k, v in s.items() if k != "samples_per_second"}
    check("steps.jsonl equals the uninterrupted run's", [strip(s) for s in steps] ==
          [strip(s) for s in ref_steps])
    same = lambda d: {k: v for k, v in d.items()
                      if not k[0].endswith(("samples_per_second", "save_seconds"))}
    check("event values equal the uninterrupted run's", same(scalars) == same(ref_scalars))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
