"""PyTorch's learning rates for the schedules of lr_scheduler_test.cc.

Usage: lr_scheduler_reference.py CASES_JSON
CASES_JSON is a list of {"options": {...}, "epochs": N, "base_lrs": [...],
"metrics": [...]} using the field names of framework::SchedulerOptions.
Prints, for each case, the learning rates of every parameter group after
construction and after each of the N scheduler steps.
"""
import json
import sys
import warnings

import torch
from torch.optim import lr_scheduler as S

warnings.filterwarnings("ignore")


def chainable(o, opt, epochs):
    name = o["name"]
    if name == "none":
        return S.LambdaLR(opt, lambda epoch: 1.0)
    if name == "step":
        return S.StepLR(opt, step_size=o["step_size"], gamma=o["gamma"])
    if name == "multistep":
        return S.MultiStepLR(opt, milestones=o["milestones"], gamma=o["gamma"])
    if name == "exponential":
        return S.ExponentialLR(opt, gamma=o["gamma"])
    if name == "cosine":
        t_max = o["t_max"] if o["t_max"] > 0 else max(1, epochs - o["warmup_epochs"])
        return S.CosineAnnealingLR(opt, T_max=t_max, eta_min=o["eta_min"])
    raise ValueError(name)


def build(o, opt, epochs):
    if o["name"] == "plateau":
        return S.ReduceLROnPlateau(
            opt, mode=o["plateau_mode"], factor=o["plateau_factor"],
            patience=o["plateau_patience"], threshold=o["plateau_threshold"],
            threshold_mode=o["plateau_threshold_mode"],
            cooldown=o["plateau_cooldown"], min_lr=o["plateau_min_lr"],
            eps=o["plateau_eps"])
    if o["warmup_epochs"] == 0:
        return chainable(o, opt, epochs)
    warmup = S.LinearLR(opt, start_factor=o["warmup_start_factor"],
                        end_factor=1.0, total_iters=o["warmup_epochs"])
    main = chainable(o, opt, epochs)
    return S.SequentialLR(opt, [warmup, main], milestones=[o["warmup_epochs"]])


def run(case):
    params = [torch.zeros(1, requires_grad=True) for _ in case["base_lrs"]]
    opt = torch.optim.SGD([{"params": [p], "lr": lr}
                           for p, lr in zip(params, case["base_lrs"])], lr=1.0)
    scheduler = build(case["options"], opt, case["epochs"])
    lrs = [[g["lr"] for g in opt.param_groups]]
    for epoch in range(case["epochs"]):
        opt.step()
        if case["options"]["name"] == "plateau":
            scheduler.step(case["metrics"][epoch])
        else:
            scheduler.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    return lrs


print(json.dumps([run(case) for case in json.loads(sys.argv[1])]))
