"""Writes the torch.save files pytorch_file_test.cc reads, and describes
them. Usage: pytorch_file_test_files.py OUT_DIR; prints JSON
{file: {tensor: {"dtype", "shape", "values"}}} of what each file holds."""
import collections
import json
import os
import sys

import torch

out = sys.argv[1]
torch.manual_seed(0)
described = {}


def describe(name, state):
    described[name] = {
        k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
            "values": v.double().flatten().tolist()}
        for k, v in state.items()}


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.bn = torch.nn.BatchNorm1d(2)

    def forward(self, x):
        return self.bn(self.fc(x))


net = Net()
with torch.no_grad():
    net.bn.running_mean += 0.5
state = net.state_dict()  # an OrderedDict with _metadata
assert hasattr(state, "_metadata")
torch.save(state, os.path.join(out, "ordered.pt"))
describe("ordered.pt", state)

dtypes = {
    "f32": torch.randn(2, 3), "f64": torch.randn(4, dtype=torch.float64),
    "f16": torch.randn(5).half(), "bf16": torch.randn(5).bfloat16(),
    "i64": torch.arange(-3, 3), "i32": torch.arange(4, dtype=torch.int32),
    "i8": torch.arange(-4, 4, dtype=torch.int8), "u8": torch.arange(250, 256, dtype=torch.uint8),
    "b": torch.tensor([True, False, True]), "scalar": torch.tensor(3.5),
    "big": torch.tensor([2**40, -2**40]),
}
torch.save(dict(dtypes), os.path.join(out, "dtypes.pt"))
describe("dtypes.pt", dtypes)

base = torch.arange(24.0).reshape(4, 6)
views = {"base": base, "transposed": base.t(), "row": base[2], "strided": base[:, ::2],
         "offset": base.view(-1)[5:11]}
torch.save(views, os.path.join(out, "views.pt"))
describe("views.pt", views)

real_location_tag = torch.serialization.location_tag
torch.serialization.location_tag = lambda storage: "cuda:1"
torch.save({"w": torch.ones(2, 2), "v": torch.zeros(3)}, os.path.join(out, "cuda.pt"))
torch.serialization.location_tag = real_location_tag
describe("cuda.pt", {"w": torch.ones(2, 2), "v": torch.zeros(3)})

optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
net(torch.randn(4, 3)).sum().backward()
optimizer.step()
torch.save({"model_state_dict": net.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
            "epoch": 3, "loss": 0.25}, os.path.join(out, "checkpoint.pt"))
describe("checkpoint.pt", net.state_dict())

torch.save(collections.OrderedDict(("module." + k, v) for k, v in net.state_dict().items()),
           os.path.join(out, "data_parallel.pt"))
describe("data_parallel.pt", net.state_dict())

torch.save(net.state_dict(), os.path.join(out, "protocol4.pt"), pickle_protocol=4)
describe("protocol4.pt", net.state_dict())


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(out, "EXECUTED"),))


torch.save({"w": torch.ones(1), "x": Evil()}, os.path.join(out, "evil.pt"))
torch.save({"w": torch.ones(1)}, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
torch.save({"epoch": 3, "notes": "no tensors"}, os.path.join(out, "no_state_dict.pt"))
print(json.dumps(described))
