"""The Python side of gpt_test: nanoGPT's model (nanogpt.py) loaded with the
C++ model's weights.

  pytorch_gpt.py CONFIG WEIGHTS DATA OUT
      CONFIG: JSON {n_layer, n_head, n_embd, block_size, vocab_size, bias,
      lr, weight_decay, steps}; WEIGHTS: the C++ model's state dict; DATA:
      "tokens" [B, T] and "x<k>", "y<k>" batches for k < steps; writes OUT
      with "logits" (eval mode, of "tokens") and "loss<k>" (the training loss
      of step k under torch.optim.AdamW).
"""
import json
import os
import sys

import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nanogpt import GPT, load_cpp_state_dict  # noqa: E402


config = json.loads(sys.argv[1])
weights = torch.load(sys.argv[2])
data = torch.load(sys.argv[3])
model = GPT(config)
load_cpp_state_dict(model, weights)
out = {}
model.eval()
with torch.no_grad():
    out["logits"] = model(data["tokens"])
model.train()
optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"],
                              weight_decay=config["weight_decay"])
for step in range(config["steps"]):
    logits = model(data[f"x{step}"])
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), data[f"y{step}"].view(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    out[f"loss{step}"] = loss.detach().reshape(1)
torch.save(out, sys.argv[4])
print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
