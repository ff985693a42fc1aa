"""Compares the tensors of two checkpoint directories by name, byte for
byte, whatever files they are in (one process's model.safetensors and
state.safetensors, or the shares N data-parallel ranks wrote): an
independent reader of the format, from its manifest and the safetensors
spec. Prints what differs; exits 0 when every tensor is the same.

  checkpoint_tensors.py DIR_A DIR_B [--ignore PREFIX]...
  checkpoint_tensors.py --files DIR   # which rank wrote which file
"""
import json
import struct
import sys


def read_tensors(directory):
    manifest = json.load(open(directory + "/checkpoint.json"))
    files = sorted({record["file"] for record in manifest["tensors"].values()})
    tensors = {}
    for name in files:
        with open(directory + "/" + name, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
            data = f.read()
        for tensor, entry in header.items():
            if tensor == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            tensors[tensor] = (entry["dtype"], tuple(entry["shape"]), data[begin:end])
    return manifest, tensors


def main(argv):
    if argv[1] == "--files":
        manifest = json.load(open(argv[2] + "/checkpoint.json"))
        for name, record in sorted(manifest.get("files", {}).items()):
            print(name, record["rank"], record["bytes"])
        return 0
    ignore = [argv[i + 1] for i in range(len(argv)) if argv[i] == "--ignore"]
    _, a = read_tensors(argv[1])
    _, b = read_tensors(argv[2])
    kept = lambda names: {n for n in names if not any(n.startswith(p) for p in ignore)}
    problems = []
    for name in sorted(kept(a) ^ kept(b)):
        problems.append("only in %s: %s" % (argv[1] if name in a else argv[2], name))
    for name in sorted(kept(a) & kept(b)):
        if a[name] != b[name]:
            problems.append("differs: %s" % name)
    for problem in problems[:20]:
        print("    " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
