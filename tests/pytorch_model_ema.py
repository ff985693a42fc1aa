"""The Python side of model_ema_test: timm's ModelEmaV3 update rule
(timm/utils/model_ema.py, get_decay and apply_update_ without foreach),
transcribed, over the weights the test recorded after each optimizer step.

  pytorch_model_ema.py WEIGHTS CONFIG OUT
      WEIGHTS: a state dict of "init.<name>" (the model before training) and
      "step<k>.<name>" (after the k-th optimizer step, k = 1..steps);
      CONFIG: JSON {"decay", "warmup", "warmup_gamma", "warmup_power",
      "min_decay", "update_after_step", "steps"}; writes OUT, the average
      after the last step, by name.
"""
import json
import sys

import torch


class ModelEmaV3Rule:
    def __init__(self, decay, min_decay, update_after_step, use_warmup, warmup_gamma,
                 warmup_power):
        self.decay = decay
        self.min_decay = min_decay
        self.update_after_step = update_after_step
        self.use_warmup = use_warmup
        self.warmup_gamma = warmup_gamma
        self.warmup_power = warmup_power

    def get_decay(self, step=None):
        if step is None:
            return self.decay
        step = max(0, step - self.update_after_step - 1)
        if step <= 0:
            return 0.0
        if self.use_warmup:
            decay = 1 - (1 + step / self.warmup_gamma) ** -self.warmup_power
            decay = max(min(decay, self.decay), self.min_decay)
        else:
            decay = self.decay
        return decay

    @torch.no_grad()
    def apply_update_(self, ema_state, model_state, decay):
        for ema_v, model_v in zip(ema_state.values(), model_state.values()):
            if ema_v.is_floating_point():
                ema_v.lerp_(model_v, weight=1. - decay)
            else:
                ema_v.copy_(model_v)


weights = torch.load(sys.argv[1], weights_only=True)
config = json.loads(sys.argv[2])
names = [n[len("init."):] for n in weights if n.startswith("init.")]
rule = ModelEmaV3Rule(config["decay"], config["min_decay"], config["update_after_step"],
                      config["warmup"], config["warmup_gamma"], config["warmup_power"])
# ModelEmaV3(model) starts as a deep copy of the model.
ema = {n: weights["init." + n].clone() for n in names}
for step in range(1, config["steps"] + 1):
    model = {n: weights[f"step{step}.{n}"] for n in names}
    rule.apply_update_(ema, model, rule.get_decay(step))
torch.save(ema, sys.argv[3])
print(json.dumps({"names": names, "last_decay": rule.get_decay(config["steps"])}))
