"""//experiments:char_gpt's model and recipe in Python PyTorch, on the same
token files in the same batch order, side by side with the C++ run.

  char_gpt_pytorch.py --data_dir=D --write_init=init.pt
      nanoGPT's model with GPT-2's initialisation (seed 1337), saved as the
      state dict the C++ run starts from (--init_from=init.pt).
  char_gpt_pytorch.py --data_dir=D --init=init.pt --cpp_run=RUN_DIR
      trains it as experiments/char_gpt.flags says, with the C++ run's batch
      order (the token_file data set's windows and EpochSampler's order,
      reimplemented here from their definitions), and prints per epoch and
      at the end the two runs side by side (JSON on the last line).

The recipe constants below mirror experiments/char_gpt.flags; the script
checks them against the C++ run's flags.json.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy
import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from nanogpt import GPT, cpp_state_dict, init_gpt2, load_cpp_state_dict, optimizer_groups  # noqa

RECIPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0, bias=True,
              train_samples=3200, batch_size=32, eval_batch_size=64, valid_windows=256,
              lr=0.002, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, eta_min=0.0002,
              warmup_epochs=1, warmup_start_factor=0.1, clip=1.0, epochs=12, seed=1337)
MASK = (1 << 64) - 1


def mix_seed(x):
    """framework/core/random_state.cc MixSeed (SplitMix64's finaliser)."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def epoch_order(seed, epoch, samples):
    """EpochSampler: randperm under a CPU generator seeded by EpochSeed."""
    generator = torch.Generator()
    generator.manual_seed(mix_seed(mix_seed(seed) ^ epoch))
    return torch.randperm(samples, generator=generator)


def window_start(seed, epoch, index, samples, windows, t):
    """plugins/datasets/token_file.cc TrainingWindowStart."""
    k = epoch * samples + index
    shift = mix_seed(seed ^ mix_seed(k // windows)) % t
    return shift + (k % windows) * t


def windows_of(tokens, starts, t):
    rows = numpy.stack([tokens[s:s + t + 1] for s in starts]).astype(numpy.int64)
    rows = torch.from_numpy(rows)
    return rows[:, :-1], rows[:, 1:]


def lr_schedule(optimizer, epochs):
    """Warm-up then cosine with PyTorch's own schedulers, one step an epoch."""
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, RECIPE["warmup_start_factor"],
                                               total_iters=RECIPE["warmup_epochs"])
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, epochs - RECIPE["warmup_epochs"]), eta_min=RECIPE["eta_min"])
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine],
                                                 milestones=[RECIPE["warmup_epochs"]])


def config(vocab_size):
    return {k: RECIPE[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "dropout",
                                   "bias")} | {"vocab_size": vocab_size}


def evaluate(model, val, t):
    model.eval()
    windows = min((len(val) - 1) // t, RECIPE["valid_windows"])
    total = 0.0
    with torch.no_grad():
        for start in range(0, windows, RECIPE["eval_batch_size"]):
            count = min(RECIPE["eval_batch_size"], windows - start)
            x, y = windows_of(val, [j * t for j in range(start, start + count)], t)
            logits = model(x)
            total += F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1)).item() * count
    model.train()
    return total / windows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--write_init")
    parser.add_argument("--init")
    parser.add_argument("--cpp_run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--train_samples", type=int, default=RECIPE["train_samples"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    meta = json.load(open(os.path.join(args.data_dir, "meta.json")))
    model = GPT(config(meta["vocab_size"]))
    if args.write_init:
        generator = torch.Generator().manual_seed(RECIPE["seed"])
        init_gpt2(model, RECIPE["n_layer"], generator)
        torch.save(cpp_state_dict(model), args.write_init)
        print(f"wrote {args.write_init}")
        return
    load_cpp_state_dict(model, torch.load(args.init))
    if args.cpp_run:
        flags = json.load(open(os.path.join(args.cpp_run, "flags.json")))
        for key, value in (("optimizer.lr", RECIPE["lr"]), ("optimizer.weight_decay", RECIPE["weight_decay"]),
                           ("batch_size", RECIPE["batch_size"]), ("train_samples", args.train_samples),
                           ("epochs", args.epochs),
                           ("clip_grad_norm", RECIPE["clip"]), ("seed", RECIPE["seed"]),
                           ("optimizer.beta2", RECIPE["betas"][1]), ("scheduler.eta_min", RECIPE["eta_min"])):
            assert float(flags[key]) == float(value), f"the C++ run's {key} is {flags[key]}, here {value}"
        assert flags["weight_decay_params"] == "matrices"
    t = RECIPE["block_size"]
    train = numpy.memmap(os.path.join(args.data_dir, "train.bin"), dtype="<u2", mode="r")
    val = numpy.memmap(os.path.join(args.data_dir, "val.bin"), dtype="<u2", mode="r")
    windows = (len(train) - t) // t
    samples = min(args.train_samples, windows)
    optimizer = torch.optim.AdamW(optimizer_groups(model, RECIPE["weight_decay"]), lr=RECIPE["lr"],
                                  betas=RECIPE["betas"], eps=RECIPE["eps"])
    schedule = lr_schedule(optimizer, args.epochs)
    batch = RECIPE["batch_size"]
    steps_per_epoch = (samples + batch - 1) // batch
    history, step_seconds, step_losses = [], [], []
    for epoch in range(args.epochs):
        order = epoch_order(RECIPE["seed"], epoch, samples)
        lr = optimizer.param_groups[0]["lr"]
        for b in range(steps_per_epoch):
            indices = order[b * batch:(b + 1) * batch].tolist()
            started = time.perf_counter()
            x, y = windows_of(train, [window_start(RECIPE["seed"], epoch, i, samples, windows, t)
                                      for i in indices], t)
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), RECIPE["clip"])
            optimizer.step()
            step_seconds.append(time.perf_counter() - started)
            step_losses.append(loss.item())
        schedule.step()
        valid = evaluate(model, val, t)
        history.append({"epoch": epoch + 1, "lr": lr, "valid_loss": valid})
        print(json.dumps(history[-1]), flush=True)
    out = {"python": {"valid_loss": history[-1]["valid_loss"],
                      "steps_per_second": 1.0 / statistics.median(step_seconds),
                      "first_step_loss": step_losses[0]}}
    if args.cpp_run:
        epochs = [json.loads(line) for line in open(os.path.join(args.cpp_run, "metrics.jsonl"))]
        steps = [json.loads(line) for line in open(os.path.join(args.cpp_run, "steps.jsonl"))]
        cpp_rate = statistics.median(s["samples_per_second"] for s in steps) / batch
        out["cpp"] = {"valid_loss": epochs[-1]["valid_loss"], "steps_per_second": cpp_rate,
                      "first_step_loss": steps[0]["loss"]}
        out["lrs_equal"] = all(math.isclose(a["lr"], h["lr"], rel_tol=1e-9)
                               for a, h in zip(epochs, history))
        out["valid_loss_ratio"] = out["cpp"]["valid_loss"] / out["python"]["valid_loss"]
        out["speed_ratio"] = cpp_rate / out["python"]["steps_per_second"]
        for a, h in zip(epochs, history):
            print(f"epoch {a['epoch']:2d}  lr {a['lr']:.6f} / {h['lr']:.6f}  "
                  f"valid_loss C++ {a['valid_loss']:.4f}  Python {h['valid_loss']:.4f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
