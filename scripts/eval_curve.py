#!/usr/bin/python3
"""A learning curve from several `infusion-eval shapes` runs of one training run's checkpoints.

    scripts/eval_curve.py STEP=DIR [STEP=DIR ...] [--plot OUT.png] [--note STEP=TEXT ...]

Each DIR holds the results.json of the checkpoint at STEP. Prints a markdown table (issue 7's
targets as columns) and, with --plot, draws the same numbers against the step.
"""
import argparse
import json

COLUMNS = [  # (header, path in results.json["shapes"], target)
    ("t2i overall", ("text_to_image", "overall"), 0.70),
    ("caption exact", ("captioning", "exact_match"), 0.90),
    ("chat", ("chat", "accuracy"), 0.90),
    ("edits", ("edits", "accuracy"), 0.60),
]
CATEGORIES = ["single_object", "position", "two_objects", "relation", "counting",
              "color_attribution"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="STEP=DIR")
    parser.add_argument("--plot")
    parser.add_argument("--note", action="append", default=[], help="STEP=TEXT (a table note)")
    args = parser.parse_args()
    notes = dict(n.split("=", 1) for n in args.note)
    points = []
    for run in args.runs:
        step, directory = run.split("=", 1)
        with open(f"{directory}/results.json") as f:
            points.append((int(step), json.load(f)["shapes"]))
    points.sort(key=lambda p: p[0])

    header = ["step"] + [c[0] for c in COLUMNS] + [f"t2i {c}" for c in CATEGORIES]
    print("| " + " | ".join(header) + " |" + (" note |" if notes else ""))
    print("|" + "---|" * (len(header) + (1 if notes else 0)))
    for step, shapes in points:
        row = [str(step)]
        for _, (a, b), _ in COLUMNS:
            row.append(f"{shapes[a][b]:.3f}")
        for c in CATEGORIES:
            row.append(f"{shapes['text_to_image']['categories'][c]['accuracy']:.2f}")
        line = "| " + " | ".join(row) + " |"
        if notes:
            line += f" {notes.get(str(step), '')} |"
        print(line)
    print("| target | " + " | ".join(f"≥ {c[2]:.2f}" for c in COLUMNS) +
          " | " + " | ".join("≥ 0.40" for _ in CATEGORIES) + " |" + (" |" if notes else ""))

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        steps = [p[0] for p in points]
        for header, (a, b), target in COLUMNS:
            line, = ax.plot(steps, [p[1][a][b] for p in points], marker="o", label=header)
            ax.axhline(target, color=line.get_color(), linestyle=":", linewidth=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel("accuracy (dotted: target)")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center right")
        fig.tight_layout()
        fig.savefig(args.plot)


if __name__ == "__main__":
    main()
