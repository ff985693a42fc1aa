"""The PyTorch side of pytorch_resume_test: the tutorial recipe's training
loop and resume block as written (with the framework's batch order instead of
a DataLoader), so that runs can cross between Python and C++ mid-training.

The framework's batch order (framework/data/epoch_sampler.cc): epoch e's
permutation is torch.randperm(n) from a CPU generator seeded with
epoch_seed(seed, e) below (e counts from 0, as the recipe's loop index does),
sliced into consecutive batches.

  pytorch_training.py recipe OUT OPTIMIZER     the recipe from the start
      (start_epoch = -1), MAX_EPOCH = 2, checkpoint_interval = 1: writes
      OUT/checkpoint_0_epoch.pkl and OUT/checkpoint_1_epoch.pkl, with "epoch"
      the loop index (SGD with the recipe's misspelt 'optimizer_state_dic')
  pytorch_training.py resume DICT OUT OPTIMIZER     the recipe's resume block
      unchanged (start_epoch = checkpoint["epoch"]; scheduler.last_epoch =
      start_epoch), loading DICT (torch.load with weights_only=True where
      PyTorch can read its floats, else after checking it holds only data),
      then the same loop up to MAX_EPOCH, writing into OUT
  pytorch_training.py bad OUT     files that must be refused: no optimizer
      state (OUT/no_optimizer.pt), two parameter groups (OUT/two_groups.pt),
      an epoch no loop index can be (OUT/epoch_minus_2.pt)
  pytorch_training.py compare A B     A and B training dicts or state dicts:
      prints {"max_abs_diff", "bit_identical", "lr", "epoch"} over the weights,
      the optimizer's state tensors, the learning rate and the epoch
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
MAX_EPOCH, checkpoint_interval = 2, 1
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


def batches(x, epoch):
    """The framework's batch order for this epoch (the recipe's DataLoader)."""
    generator = torch.Generator()
    generator.manual_seed(epoch_seed(SEED, epoch))
    order = torch.randperm(len(x), generator=generator)
    for i in range(0, len(x), BATCH):
        yield order[i:i + BATCH]


def recipe_loop(net, optimizer, scheduler, start_epoch, out, optimizer_key):
    """The recipe's loop as written, apart from where the batches come from."""
    x, y = load("train")
    x, y = x[:SAMPLES], y[:SAMPLES]
    for epoch in range(start_epoch + 1, MAX_EPOCH):
        net.train()
        for idx in batches(x, epoch):
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        scheduler.step()
        if (epoch + 1) % checkpoint_interval == 0:
            checkpoint = {"model_state_dict": net.state_dict(),
                          optimizer_key: optimizer.state_dict(),
                          "loss": loss,
                          "epoch": epoch}
            path_checkpoint = "{}/checkpoint_{}_epoch.pkl".format(out, epoch)
            torch.save(checkpoint, path_checkpoint)


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


def optimizer_of(checkpoint):
    return checkpoint.get("optimizer_state_dict", checkpoint.get("optimizer_state_dic"))


def compared_tensors(checkpoint):
    """Name -> tensor over the weights and the optimizer's state."""
    if "model_state_dict" not in checkpoint:
        return dict(checkpoint)
    tensors = {f"model.{k}": v for k, v in checkpoint["model_state_dict"].items()}
    for index, fields in optimizer_of(checkpoint)["state"].items():
        for field, value in fields.items():
            tensors[f"optimizer.{index}.{field}"] = torch.as_tensor(value)
    return tensors


torch.set_num_threads(1)
command = sys.argv[1]
if command == "recipe":
    out, optimizer_name = sys.argv[2], sys.argv[3]
    net, optimizer, scheduler = build(optimizer_name)
    start_epoch = -1
    recipe_loop(net, optimizer, scheduler, start_epoch, out,
                "optimizer_state_dic" if optimizer_name == "sgd" else "optimizer_state_dict")
elif command == "resume":
    path_checkpoint, out, optimizer_name = sys.argv[2], sys.argv[3], sys.argv[4]
    net, optimizer, scheduler = build(optimizer_name)
    checkpoint, how = load_data_only(path_checkpoint)
    print(json.dumps({"loaded_with": how}))
    net.load_state_dict(checkpoint["model_state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    start_epoch = checkpoint["epoch"]
    scheduler.last_epoch = start_epoch
    recipe_loop(net, optimizer, scheduler, start_epoch, out, "optimizer_state_dict")
elif command == "bad":
    out = sys.argv[2]
    net, optimizer, _ = build("sgd")
    torch.save({"model_state_dict": net.state_dict(), "epoch": 0}, f"{out}/no_optimizer.pt")
    convs = [p for n, p in net.named_parameters() if n.startswith("conv")]
    rest = [p for n, p in net.named_parameters() if not n.startswith("conv")]
    two_groups = torch.optim.SGD([{"params": convs}, {"params": rest, "lr": 0.1}], lr=0.01)
    torch.save({"model_state_dict": net.state_dict(), "optimizer_state_dict": two_groups.state_dict(),
                "epoch": 0}, f"{out}/two_groups.pt")
    torch.save({"model_state_dict": net.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
                "epoch": -2}, f"{out}/epoch_minus_2.pt")
else:
    a = torch.load(sys.argv[2], weights_only=False)
    b = torch.load(sys.argv[3], weights_only=False)
    ta, tb = compared_tensors(a), compared_tensors(b)
    assert ta.keys() == tb.keys(), (sorted(ta.keys()), sorted(tb.keys()))
    diff = max((ta[k].double() - tb[k].double()).abs().max().item() for k in ta)
    same = all(torch.equal(ta[k].double(), tb[k].double()) for k in ta)
    result = {"max_abs_diff": diff, "bit_identical": same, "tensors": len(ta)}
    if "model_state_dict" in a:
        lrs = [optimizer_of(c)["param_groups"][0]["lr"] for c in (a, b)]
        result.update({"lr": lrs, "epoch": [a["epoch"], b["epoch"]]})
        result["bit_identical"] = same and lrs[0] == lrs[1] and a["epoch"] == b["epoch"]
    print(json.dumps(result))
