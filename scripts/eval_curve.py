#!/usr/bin/python3
"""A learning curve from several `infusion-eval shapes` runs of one training run's checkpoints.

    scripts/eval_curve.py STEP[/SAMPLING]=DIR [...] [--plot OUT.png] [--note STEP[/SAMPLING]=TEXT ...]

Each DIR holds the results.json of the checkpoint at STEP. SAMPLING optionally names how it was
sampled (e.g. "gaussian" or "zero-mean" initial noise) when the same checkpoints were evaluated
more than one way: the table gets a column for it and the plot one line style per sampling.
Prints a markdown table (issue 7's targets as columns) and, with --plot, draws the same numbers
against the step.
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
    parser.add_argument("runs", nargs="+", help="STEP[/SAMPLING]=DIR")
    parser.add_argument("--plot")
    parser.add_argument("--note", action="append", default=[],
                        help="STEP[/SAMPLING]=TEXT (a table note)")
    args = parser.parse_args()
    notes = dict(n.split("=", 1) for n in args.note)
    points = []  # (step, sampling, key, results)
    for run in args.runs:
        key, directory = run.split("=", 1)
        step, _, sampling = key.partition("/")
        with open(f"{directory}/results.json") as f:
            points.append((int(step), sampling, key, json.load(f)["shapes"]))
    points.sort(key=lambda p: (p[0], p[1]))
    samplings = sorted({p[1] for p in points})
    with_sampling = samplings != [""]

    header = (["step"] + (["sampling"] if with_sampling else []) + [c[0] for c in COLUMNS] +
              [f"t2i {c}" for c in CATEGORIES])
    print("| " + " | ".join(header) + " |" + (" note |" if notes else ""))
    print("|" + "---|" * (len(header) + (1 if notes else 0)))
    for step, sampling, key, shapes in points:
        row = [str(step)] + ([sampling] if with_sampling else [])
        for _, (a, b), _ in COLUMNS:
            row.append(f"{shapes[a][b]:.3f}")
        for c in CATEGORIES:
            row.append(f"{shapes['text_to_image']['categories'][c]['accuracy']:.2f}")
        line = "| " + " | ".join(row) + " |"
        if notes:
            line += f" {notes.get(key, '')} |"
        print(line)
    print("| target | " + ("| " if with_sampling else "") +
          " | ".join(f"≥ {c[2]:.2f}" for c in COLUMNS) +
          " | " + " | ".join("≥ 0.40" for _ in CATEGORIES) + " |" + (" |" if notes else ""))

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(9.5, 4), dpi=100)
        styles = ["-", "--", "-.", ":"]
        colors = {}
        for s, sampling in enumerate(samplings):
            series = [p for p in points if p[1] == sampling]
            steps = [p[0] for p in series]
            for header, (a, b), target in COLUMNS:
                label = header + (f" ({sampling})" if with_sampling else "")
                line, = ax.plot(steps, [p[3][a][b] for p in series], marker="o",
                                linestyle=styles[s % len(styles)], color=colors.get(header),
                                label=label)
                if header not in colors:
                    colors[header] = line.get_color()
                    ax.axhline(target, color=line.get_color(), linestyle=":", linewidth=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel("accuracy (dotted: target)")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
        fig.tight_layout()
        fig.savefig(args.plot)


if __name__ == "__main__":
    main()
