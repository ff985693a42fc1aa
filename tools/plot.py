"""Draws the training curves of one or more runs into a PNG, like PyTorch's
recipe figure: the training loss of every logged step (raw, and smoothed)
with the validation loss of every epoch on the same step axis, and the
accuracy (or the trainer's first metric) in a second panel. Several runs
overlay, one colour each, with a legend that names each run by the flags in
which the runs differ (from their flags.json: "batch_size=16, optimizer.lr=0.05";
a plugin option's record stands for the flag that set it), or by its
directory when they differ in none.

usage: bazel run //tools:plot -- RUN_DIR [RUN_DIR...] [--output=curves.png]
Reads RUN_DIR/steps.jsonl and RUN_DIR/metrics.jsonl. Relative paths are
relative to where bazel was run.
"""
import argparse
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WIDTH, HEIGHT, DPI = 12, 8, 100  # 1200 x 800 pixels


def user_path(path):
    base = os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd()
    return os.path.normpath(os.path.join(base, path))


def read_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        sys.exit(f"plot: cannot read {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        sys.exit(f"plot: {path}: not JSON lines ({e})")


# Flags that say where a run is, not what it computes.
NOT_DEFINING = {"run_dir", "resume", "resume_from"}


def run_labels(run_dirs):
    """Each run named by the flags in which the runs differ."""
    names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
    flags = []
    for run_dir in run_dirs:
        path = os.path.join(run_dir, "flags.json")
        try:
            with open(path) as f:
                flags.append(json.load(f))
        except (OSError, json.JSONDecodeError):
            return names  # a run without its record: directories it is
    if len(flags) < 2:
        return names
    keys = sorted(set().union(*flags) - NOT_DEFINING)
    differing = [k for k in keys if len({json.dumps(f.get(k)) for f in flags}) > 1]
    dotted = [k for k in differing if "." in k]
    # --lr and its record optimizer.lr: the record says it.
    differing = [k for k in differing
                 if "." in k or not any(d.endswith("." + k) for d in dotted)]
    if not differing:
        return names
    return [", ".join(f"{k}={f.get(k, '')}" for k in differing) for f in flags]


def smoothed(values, weight):
    """TensorBoard's exponential moving average, debiased."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--output", default="", help="PNG to write (default RUN_DIR/curves.png)")
    parser.add_argument("--smoothing", type=float, default=0.9, help="EMA weight in [0, 1)")
    args = parser.parse_args()
    if not 0 <= args.smoothing < 1:
        sys.exit(f"plot: --smoothing must be in [0, 1), got {args.smoothing}")
    run_dirs = [user_path(d) for d in args.run_dirs]
    output = user_path(args.output) if args.output else os.path.join(run_dirs[0], "curves.png")

    figure, (loss_axes, metric_axes) = plt.subplots(2, 1, figsize=(WIDTH, HEIGHT), dpi=DPI,
                                                    sharex=True)
    metric_name = "acc"
    labels = run_labels(run_dirs)
    for index, run_dir in enumerate(run_dirs):
        steps = read_jsonl(os.path.join(run_dir, "steps.jsonl"))
        epochs = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
        if not steps:
            sys.exit(f"plot: {run_dir}/steps.jsonl has no steps")
        label = labels[index]
        if len(run_dirs) > 1:
            print(f"plot: {os.path.basename(os.path.normpath(run_dir))}: {label}")
        colour = f"C{index % 10}"
        x = [s["step"] for s in steps]
        loss = [s["loss"] for s in steps]
        loss_axes.plot(x, loss, color=colour, alpha=0.25, linewidth=0.6)
        loss_axes.plot(x, smoothed(loss, args.smoothing), color=colour, linewidth=1.5,
                       label=f"{label} train")
        if epochs:
            loss_axes.plot([e["step"] for e in epochs], [e["valid_loss"] for e in epochs],
                           color=colour, marker="o", linestyle="--", label=f"{label} valid")
        metrics = [k for k in steps[0] if k not in ("step", "epoch", "loss", "lr",
                                                     "samples_per_second")]
        if metrics:
            metric_name = "acc" if "acc" in metrics else metrics[0]
            values = [s[metric_name] for s in steps]
            metric_axes.plot(x, smoothed(values, args.smoothing), color=colour, linewidth=1.5,
                             label=f"{label} train")
            key = f"valid_{metric_name}"
            if epochs and key in epochs[0]:
                metric_axes.plot([e["step"] for e in epochs], [e[key] for e in epochs],
                                 color=colour, marker="o", linestyle="--", label=f"{label} valid")
    loss_axes.set_ylabel("loss")
    loss_axes.set_title("Training loss per step (faint: raw) and validation loss per epoch")
    loss_axes.legend(loc="upper right")
    loss_axes.grid(alpha=0.3)
    metric_axes.set_ylabel(metric_name)
    metric_axes.set_xlabel("step")
    metric_axes.legend(loc="lower right")
    metric_axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(output, dpi=DPI)
    print(f"plot: wrote {args.output or output}")


if __name__ == "__main__":
    main()
