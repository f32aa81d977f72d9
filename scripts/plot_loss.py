#!/usr/bin/python3
"""Plots a run's loss curve from infusion-train's train_log.jsonl.

    scripts/plot_loss.py RUN/train_log.jsonl OUT.png [--title TITLE] [--smooth N] [--max_step S]
        [--then FINETUNE/train_log.jsonl [--then_max_step S2] [--then_label TEXT]] ...

Draws the language-modelling and the diffusion loss (raw, and a moving average over N logged
points) against the step, on a log scale. With --then, a fine-tune started from the first run's
step S (its "init_from") continues the curve from there, after a dashed line: its steps are
counted on from S. --then repeats for a fine-tune of a fine-tune, each with its own
--then_max_step and --then_label, in order. Used for the loss curves in the model cards.
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


def read_log(path, max_step):
    """The last logged line per step (a resumed run logs again from its checkpoint)."""
    by_step = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                if not max_step or row["step"] <= max_step:
                    by_step[row["step"]] = row
    if not by_step:
        raise SystemExit(f"{path}: no logged steps")
    return by_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log")
    parser.add_argument("out")
    parser.add_argument("--title", default="")
    parser.add_argument("--smooth", type=int, default=10)
    parser.add_argument("--max_step", type=int, default=0, help="ignore later steps (0 = none)")
    parser.add_argument("--then", action="append", default=[],
                        help="train_log.jsonl of a fine-tune of the run before it")
    parser.add_argument("--then_max_step", type=int, action="append", default=[])
    parser.add_argument("--then_label", action="append", default=[])
    args = parser.parse_args()

    # (steps, offset, path, label) per part; a fine-tune starts where the part before it ended.
    parts = [(read_log(args.log, args.max_step), 0, args.log, "")]
    for i, path in enumerate(args.then):
        max_step = args.then_max_step[i] if i < len(args.then_max_step) else 0
        label = args.then_label[i] if i < len(args.then_label) else "fine-tune"
        previous, previous_offset = parts[-1][0], parts[-1][1]
        parts.append((read_log(path, max_step), previous_offset + max(previous), path, label))

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for index, (by_step, offset, path, then_label) in enumerate(parts):
        steps = sorted(by_step)
        for key, label, colour in (("loss_lm", "text (cross-entropy)", "tab:blue"),
                                   ("loss_diffusion", "image (diffusion MSE)", "tab:orange")):
            values = [by_step[s][key] for s in steps]
            x = [s + offset for s in steps]
            ax.plot(x, values, color=colour, alpha=0.25, linewidth=0.8)
            ax.plot(x, moving_average(values, args.smooth), color=colour,
                    label=label if index == 0 else None)
        if offset:
            ax.axvline(offset, color="grey", linestyle="--", linewidth=1)
            ax.annotate(then_label, (offset, 1), xycoords=("data", "axes fraction"),
                        xytext=(4, -14), textcoords="offset points", color="grey")
        print(f"{path}: steps {steps[0]}..{steps[-1]}"
              + (f", drawn from {offset}" if offset else ""))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left")
    if args.title:
        ax.set_title(args.title)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
