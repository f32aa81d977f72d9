#!/usr/bin/python3
"""A learning curve from several `infusion-eval` runs of one training run's checkpoints.

    scripts/eval_curve.py STEP[/SAMPLING]=DIR [...] [--section shapes|emoji] [--plot OUT.png]
                          [--note STEP[/SAMPLING]=TEXT ...] [--targets issue7|issue23]

Each DIR holds the results.json of the checkpoint at STEP. SAMPLING optionally names how it was
sampled (e.g. "gaussian" or "zero-mean" initial noise) when the same checkpoints were evaluated
more than one way: the table gets a column for it and the plot one line style per sampling.
Prints a markdown table (the section's measures, with the targets of issue 7, or with
--targets issue23 those of issue 23, where it sets one) and, with --plot, draws the same numbers
against the step.
"""
import argparse
import json

# Per section of results.json: (header, path in the section, target or None) of each column, and
# the text-to-image categories shown after them (shapes only).
SECTIONS = {
    "shapes": ([
        ("t2i overall", ("text_to_image", "overall"), 0.70),
        ("caption exact", ("captioning", "exact_match"), 0.90),
        ("chat", ("chat", "accuracy"), 0.90),
        ("edits", ("edits", "accuracy"), 0.60),
    ], ["single_object", "position", "two_objects", "relation", "counting", "color_attribution"]),
    "emoji": ([
        ("retrieval top-1", ("retrieval", "top1", "accuracy"), None),
        ("retrieval top-5", ("retrieval", "top5", "accuracy"), 0.50),
        ("caption exact", ("caption_exact_match", "accuracy"), None),
    ], []),
}


# Issue 23 raises the shapes targets: (columns' targets by header, every category's).
ISSUE23 = ({"t2i overall": 0.85, "caption exact": 0.98, "chat": 0.95, "edits": 0.80}, 0.65)


def at(section, path):
    for key in path:
        section = section[key]
    return section


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="STEP[/SAMPLING]=DIR")
    parser.add_argument("--section", choices=sorted(SECTIONS), default="shapes")
    parser.add_argument("--plot")
    parser.add_argument("--note", action="append", default=[],
                        help="STEP[/SAMPLING]=TEXT (a table note)")
    parser.add_argument("--targets", choices=["issue7", "issue23"], default="issue7")
    args = parser.parse_args()
    columns, categories = SECTIONS[args.section]
    category_target = 0.40
    if args.targets == "issue23" and args.section == "shapes":
        column_targets, category_target = ISSUE23
        columns = [(h, path, column_targets.get(h, t)) for h, path, t in columns]
    notes = dict(n.split("=", 1) for n in args.note)
    points = []  # (step, sampling, key, results)
    for run in args.runs:
        key, directory = run.split("=", 1)
        step, _, sampling = key.partition("/")
        with open(f"{directory}/results.json") as f:
            points.append((int(step), sampling, key, json.load(f)[args.section]))
    points.sort(key=lambda p: (p[0], p[1]))
    samplings = sorted({p[1] for p in points})
    with_sampling = samplings != [""]

    header = (["step"] + (["sampling"] if with_sampling else []) + [c[0] for c in columns] +
              [f"t2i {c}" for c in categories])
    print("| " + " | ".join(header) + " |" + (" note |" if notes else ""))
    print("|" + "---|" * (len(header) + (1 if notes else 0)))
    for step, sampling, key, results in points:
        row = [str(step)] + ([sampling] if with_sampling else [])
        for _, path, _ in columns:
            row.append(f"{at(results, path):.3f}")
        for c in categories:
            row.append(f"{results['text_to_image']['categories'][c]['accuracy']:.2f}")
        line = "| " + " | ".join(row) + " |"
        if notes:
            line += f" {notes.get(key, '')} |"
        print(line)
    print("| target | " + ("| " if with_sampling else "") +
          " | ".join(f"≥ {c[2]:.2f}" if c[2] is not None else "" for c in columns) +
          "".join(f" | ≥ {category_target:.2f}" for _ in categories) + " |" + (" |" if notes else ""))

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
            for header, path, target in columns:
                label = header + (f" ({sampling})" if with_sampling else "")
                line, = ax.plot(steps, [at(p[3], path) for p in series], marker="o",
                                linestyle=styles[s % len(styles)], color=colors.get(header),
                                label=label)
                if header not in colors:
                    colors[header] = line.get_color()
                    if target is not None:
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
