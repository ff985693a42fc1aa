"""The PyTorch side of pytorch_interop_test: the tutorial's LeNet
(GarmentClassifier) on Fashion-MNIST, read with gzip + numpy.

  pytorch_lenet.py train OUT_DIR      train one epoch; write lenet.pt (state
                                      dict), lenet_checkpoint.pt (the
                                      tutorial's checkpoint dict), logits.bin
                                      (float32 logits of the first 1000 test
                                      images); print {"accuracy": ...}
  pytorch_lenet.py evaluate PT OUT    load PT with weights_only=True; write
                                      OUT (logits as above); print accuracy
"""
import gzip
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


class GarmentClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 4 * 4)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def load(split):
    with gzip.open(f"{DATA}/{split}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DATA}/{split}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    # ToTensor() then Normalize((0.5,), (0.5,)), as the tutorial.
    x = torch.from_numpy(images.copy()).float().div(255).sub(0.5).div(0.5)
    return x, torch.from_numpy(labels.astype(np.int64))


def evaluate(net, out_path):
    x, y = load("t10k")
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    logits[:1000].numpy().astype("<f4").tofile(out_path)
    return (logits.argmax(1) == y).double().mean().item()


if __name__ == "__main__":
    torch.set_num_threads(2)  # pytorch_interop_test.cc's kThreads: products split alike
    if sys.argv[1] == "train":
        out = sys.argv[2]
        torch.manual_seed(0)
        net = GarmentClassifier()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x, y = load("train")
        order = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            optimizer.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            optimizer.step()
        torch.save(net.state_dict(), f"{out}/lenet.pt")
        torch.save({"epoch": 0, "model_state_dict": net.state_dict(),
                    "optimizer_state_dict": optimizer.state_dict(), "loss": 0.5},
                   f"{out}/lenet_checkpoint.pt")
        print(json.dumps({"accuracy": evaluate(net, f"{out}/logits.bin")}))
    else:
        net = GarmentClassifier()
        state = torch.load(sys.argv[2], weights_only=True)
        net.load_state_dict(state)
        print(json.dumps({"accuracy": evaluate(net, sys.argv[3])}))
