#!/usr/bin/python3
"""Plots a run's loss curve from infusion-train's train_log.jsonl.

    scripts/plot_loss.py RUN/train_log.jsonl OUT.png [--title TITLE] [--smooth N] [--max_step S]

Draws the language-modelling and the diffusion loss (raw, and a moving average over N logged
points) against the step, on a log scale. Used for the loss curves in the model cards.
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def moving_average(values, n):
    """Centred mean over n points (fewer at the ends), so the curve does not lag the data."""
    half = n // 2
    out = []
    for i in range(len(values)):
        window = values[max(0, i - half):i + half + 1]
        out.append(sum(window) / len(window))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log")
    parser.add_argument("out")
    parser.add_argument("--title", default="")
    parser.add_argument("--smooth", type=int, default=10)
    parser.add_argument("--max_step", type=int, default=0, help="ignore later steps (0 = none)")
    args = parser.parse_args()

    by_step = {}  # a resumed run logs again from its checkpoint: keep the last line per step
    with open(args.log) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                if not args.max_step or row["step"] <= args.max_step:
                    by_step[row["step"]] = row
    steps = sorted(by_step)
    if not steps:
        raise SystemExit(f"{args.log}: no logged steps")

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key, label, colour in (("loss_lm", "text (cross-entropy)", "tab:blue"),
                               ("loss_diffusion", "image (diffusion MSE)", "tab:orange")):
        values = [by_step[s][key] for s in steps]
        ax.plot(steps, values, color=colour, alpha=0.25, linewidth=0.8)
        ax.plot(steps, moving_average(values, args.smooth), color=colour, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if args.title:
        ax.set_title(args.title)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}: steps {steps[0]}..{steps[-1]}")


if __name__ == "__main__":
    main()
