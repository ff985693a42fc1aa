"""The Python side of loss_scaler_test: PyTorch's GradScaler update rule on an
inf/NaN pattern. PyTorch 1.13's GradScaler disables itself without CUDA and
its kernels (_amp_update_scale_, _amp_foreach_non_finite_check_and_unscale_)
have no CPU implementation, so the rule is transcribed from them
(aten/src/ATen/native/cuda/AmpKernels.cu and torch/cuda/amp/grad_scaler.py),
in their float32/float64 arithmetic.

  pytorch_grad_scaler_rule.py CONFIG
      CONFIG: JSON {"init_scale", "growth_factor", "backoff_factor",
      "growth_interval", "found_inf": [0 or 1 per step], "grads": [numbers]}
      prints JSON {"scales": scale before each step, "skipped": per step,
      "final_scale", "final_tracker", "unscaled": grads unscaled at
      init_scale}.
"""
import json
import sys

import torch

config = json.loads(sys.argv[1])
scale = torch.full((1,), config["init_scale"], dtype=torch.float32)
growth_tracker = torch.full((1,), 0, dtype=torch.int32)
scales, skipped = [], []
for found in config["found_inf"]:
    scales.append(scale.item())
    # GradScaler.step: the optimizer step runs only if no inf was found.
    skipped.append(bool(found))
    # _amp_update_scale_cuda_kernel: float current_scale, double factors.
    if found:
        scale = (scale.double() * config["backoff_factor"]).float()
        growth_tracker.zero_()
    else:
        successful = growth_tracker + 1
        if successful.item() == config["growth_interval"]:
            new_scale = (scale.double() * config["growth_factor"]).float()
            if torch.isfinite(new_scale).all():
                scale = new_scale
            growth_tracker.zero_()
        else:
            growth_tracker = successful
# GradScaler.unscale_: inv_scale = self._scale.double().reciprocal().float(),
# then each gradient value times inv_scale in float32.
inv_scale = torch.full((1,), config["init_scale"], dtype=torch.float32).double().reciprocal().float()
grads = torch.tensor(config["grads"], dtype=torch.float32)
unscaled = grads * inv_scale
print(json.dumps({"scales": scales, "skipped": skipped, "final_scale": scale.item(),
                  "final_tracker": int(growth_tracker.item()),
                  "unscaled": unscaled.tolist()}))
