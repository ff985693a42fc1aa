"""The PyTorch side of pytorch_resume_test: the tutorial's LeNet trained with
exactly the batches the framework draws, so that runs can cross between
Python and C++ mid-training.

The framework's batch order (framework/data/epoch_sampler.cc): epoch e's
permutation is torch.randperm(n) from a CPU generator seeded with
epoch_seed(seed, e) below (e counts from 0), sliced into consecutive batches.

  pytorch_training.py first OUT OPTIMIZER     train 2 epochs; save the recipe's
      dict after epoch 1 as OUT/recipe.pt (SGD with the recipe's misspelt
      'optimizer_state_dic'), and the weights after epoch 2 as OUT/python_final.pt
  pytorch_training.py continue DICT OUT OPTIMIZER   load a training-checkpoint
      dict (torch.load with weights_only=True where PyTorch can read its floats,
      else after checking it holds only data) into model, optimizer and StepLR, train one
      more epoch, save the weights as OUT
  pytorch_training.py bad OUT     files that must be refused: no optimizer
      state (OUT/no_optimizer.pt), two parameter groups (OUT/two_groups.pt)
  pytorch_training.py compare A B     prints {"max_abs_diff": ..., "bit_identical": ...}
"""
import io
import json
import pickle
import pickletools
import sys
import zipfile

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from pytorch_lenet import GarmentClassifier, load  # noqa: E402

SAMPLES, BATCH, SEED = 2000, 64, 1
MASK = (1 << 64) - 1


def mix_seed(value):
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


def epoch_seed(seed, epoch):
    return mix_seed(mix_seed(seed) ^ epoch)


def build(optimizer_name):
    torch.manual_seed(0)
    net = GarmentClassifier()
    if optimizer_name == "sgd":
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=0.001)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return net, optimizer, scheduler


def train_epoch(net, optimizer, scheduler, x, y, epoch):
    generator = torch.Generator()
    generator.manual_seed(epoch_seed(SEED, epoch))
    order = torch.randperm(len(x), generator=generator)
    net.train()
    total = 0.0
    for i in range(0, len(x), BATCH):
        idx = order[i:i + BATCH]
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    scheduler.step()
    return total / len(x)


# What torch.load(weights_only=True) accepts, plus BINFLOAT: PyTorch 1.13's
# weights_only unpickler has no opcode for a Python float (2.0 added it), so
# no optimizer state_dict, PyTorch's own included, loads with it in 1.13.
SAFE_OPCODES = {"PROTO", "STOP", "MARK", "GLOBAL", "REDUCE", "BUILD", "APPEND", "APPENDS",
                "SETITEM", "SETITEMS", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "NONE", "NEWFALSE",
                "NEWTRUE", "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "BININT", "BININT1",
                "BININT2", "BINUNICODE", "SHORT_BINSTRING", "BINPERSID", "BINGET", "LONG_BINGET",
                "BINPUT", "LONG_BINPUT", "LONG1", "BINFLOAT"}
SAFE_GLOBALS = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2"} | {
    f"torch {name}" for name in ("FloatStorage", "DoubleStorage", "LongStorage", "IntStorage",
                                 "HalfStorage", "BFloat16Storage", "ByteStorage", "BoolStorage")}


def load_data_only(path):
    """torch.load(weights_only=True) where this PyTorch can; otherwise checks
    that the pickle holds nothing but data (the opcodes and globals above)
    before loading it."""
    try:
        return torch.load(path, weights_only=True), "weights_only=True"
    except pickle.UnpicklingError as error:
        if "operand 71" not in str(error):  # 71: BINFLOAT
            raise
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
        data = archive.read(name)
    for opcode, argument, _ in pickletools.genops(io.BytesIO(data)):
        assert opcode.name in SAFE_OPCODES, opcode.name
        if opcode.name == "GLOBAL":
            assert argument in SAFE_GLOBALS, argument
    return torch.load(path, weights_only=False), "data-only pickle (checked)"


torch.set_num_threads(1)
command = sys.argv[1]
if command == "first":
    out, optimizer_name = sys.argv[2], sys.argv[3]
    x, y = load("train")
    x, y = x[:SAMPLES], y[:SAMPLES]
    net, optimizer, scheduler = build(optimizer_name)
    loss = train_epoch(net, optimizer, scheduler, x, y, 0)
    key = "optimizer_state_dic" if optimizer_name == "sgd" else "optimizer_state_dict"
    torch.save({"model_state_dict": net.state_dict(), key: optimizer.state_dict(),
                "epoch": 1, "loss": loss}, f"{out}/recipe.pt")
    train_epoch(net, optimizer, scheduler, x, y, 1)
    torch.save(net.state_dict(), f"{out}/python_final.pt")
elif command == "continue":
    path, out, optimizer_name = sys.argv[2], sys.argv[3], sys.argv[4]
    checkpoint, how = load_data_only(path)
    print(json.dumps({"loaded_with": how}))
    x, y = load("train")
    x, y = x[:SAMPLES], y[:SAMPLES]
    net, optimizer, scheduler = build(optimizer_name)
    net.load_state_dict(checkpoint["model_state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
    train_epoch(net, optimizer, scheduler, x, y, checkpoint["epoch"])
    torch.save(net.state_dict(), out)
elif command == "bad":
    out = sys.argv[2]
    net, optimizer, _ = build("sgd")
    torch.save({"model_state_dict": net.state_dict(), "epoch": 1}, f"{out}/no_optimizer.pt")
    convs = [p for n, p in net.named_parameters() if n.startswith("conv")]
    rest = [p for n, p in net.named_parameters() if not n.startswith("conv")]
    two_groups = torch.optim.SGD([{"params": convs}, {"params": rest, "lr": 0.1}], lr=0.01)
    torch.save({"model_state_dict": net.state_dict(), "optimizer_state_dict": two_groups.state_dict(),
                "epoch": 1}, f"{out}/two_groups.pt")
else:
    a = torch.load(sys.argv[2], weights_only=True)
    b = torch.load(sys.argv[3], weights_only=True)
    assert a.keys() == b.keys(), (a.keys(), b.keys())
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(json.dumps({"max_abs_diff": diff, "bit_identical": all(torch.equal(a[k], b[k]) for k in a)}))
