"""The Python side of resnet_torchvision_test: torchvision's own ResNet-18/34
as the independent reference.

  torchvision_resnet.py load ARCH STEM WEIGHTS IO
      builds torchvision.models.<ARCH>(num_classes=10) (STEM small: conv1 a
      3x3 stride-1 convolution and no max-pool, the usual CIFAR change),
      loads WEIGHTS (.pt, or .safetensors read by the few lines below)
      strictly, runs IO's "x" in eval mode and prints the largest |difference|
      from IO's "logits".
  torchvision_resnet.py save ARCH STEM SEED OUT_PREFIX
      a torchvision model from SEED with random batch-norm statistics: writes
      OUT_PREFIX.pt and OUT_PREFIX.safetensors (its state dict) and
      OUT_PREFIX_io.pt ("x" and its "logits").
"""
import json
import struct
import sys

import torch
import torchvision

DTYPES = {"F32": torch.float32, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def build(arch, stem):
    model = getattr(torchvision.models, arch)(num_classes=10)
    if stem == "small":
        model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
    return model


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        buffer = bytearray(data[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(buffer, dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        raw = tensor.contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


command, arch, stem = sys.argv[1], sys.argv[2], sys.argv[3]
model = build(arch, stem)
if command == "load":
    path = sys.argv[4]
    weights = read_safetensors(path) if path.endswith(".safetensors") else torch.load(path)
    model.load_state_dict(weights, strict=True)
    model.eval()
    io = torch.load(sys.argv[5])
    with torch.no_grad():
        logits = model(io["x"])
    print(json.dumps({"max_abs_diff": (logits - io["logits"]).abs().max().item()}))
else:
    seed, prefix = int(sys.argv[4]), sys.argv[5]
    torch.manual_seed(seed)
    model = build(arch, stem)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
            module.num_batches_tracked.fill_(7)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(state, prefix + ".pt")
    write_safetensors(prefix + ".safetensors", state)
    torch.save({"x": x, "logits": logits}, prefix + "_io.pt")
    print(json.dumps({"tensors": len(state)}))
