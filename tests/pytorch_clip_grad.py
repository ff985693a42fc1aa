"""The Python side of gradient_clipping_test: PyTorch's own
torch.nn.utils.clip_grad_norm_ and clip_grad_value_ on the gradients the test
wrote.

  pytorch_clip_grad.py GRADS CONFIGS OUT_PREFIX
      GRADS: a state dict of gradients (one per parameter, in order);
      CONFIGS: a JSON list of {"max_norm", "norm_type", "max_value"} (0: off;
      norm_type a number or "inf"); writes OUT_PREFIX<i>.pt holding the
      clipped gradients and "total_norm" (the norm before clipping, float64).
"""
import json
import sys

import torch

grads = torch.load(sys.argv[1], weights_only=True)
configs = json.loads(sys.argv[2])
for i, config in enumerate(configs):
    parameters = []
    for name in sorted(grads, key=lambda n: int(n.split(".")[1])):
        p = torch.zeros_like(grads[name], requires_grad=True)
        p.grad = grads[name].clone()
        parameters.append(p)
    out = {}
    if config["max_norm"] > 0:
        norm_type = float("inf") if config["norm_type"] == "inf" else float(config["norm_type"])
        total = torch.nn.utils.clip_grad_norm_(parameters, config["max_norm"], norm_type)
        out["total_norm"] = total.detach().double().reshape(1)
    if config["max_value"] > 0:
        torch.nn.utils.clip_grad_value_(parameters, config["max_value"])
    for index, p in enumerate(parameters):
        out[f"grad.{index}"] = p.grad
    torch.save(out, f"{sys.argv[3]}{i}.pt")
print(json.dumps({"configs": len(configs)}))
