"""Reading the files under deploy/ the way the tools that consume them do."""

import glob
import json
import os
import re

import yaml


def yaml_files(source_dir):
    """Every YAML file under deploy/, as paths relative to the repository."""
    paths = []
    for pattern in ("deploy/**/*.yml", "deploy/**/*.yaml"):
        paths += glob.glob(pattern, root_dir=source_dir, recursive=True)
    return sorted(paths)


def load_yaml_documents(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def load_yaml(path):
    (doc,) = load_yaml_documents(path)
    return doc


def k8s_objects(source_dir):
    """{(kind, name): object} of every manifest in deploy/k8s (kustomization.yaml aside)."""
    objects = {}
    for path in sorted(glob.glob(os.path.join(source_dir, "deploy/k8s/*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":
            continue
        for obj in load_yaml_documents(path):
            objects[(obj["kind"], obj["metadata"]["name"])] = obj
    return objects


def flags(args):
    """{"port": "50051", "resume": ""} from ["--port=50051", "--resume"]."""
    out = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            out[name] = value
    return out


def shell_flag_names(script, program):
    """The --flags given to `program` in a shell script, e.g. {"out", "resume"}."""
    names = set()
    for line in script.splitlines():
        words = line.split()
        if program in words:
            names |= {w[2:].split("=")[0] for w in words[words.index(program) + 1:]
                      if w.startswith("--")}
    return names


def parse_seconds(duration):
    """Seconds in an absl duration flag such as "30s", "2m" or "1m30s"."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)


class Instruction:
    def __init__(self, stage, keyword, arguments):
        self.stage = stage          # the FROM ... AS name this instruction belongs to
        self.keyword = keyword      # upper case: "COPY", "RUN", ...
        self.arguments = arguments  # the rest of the instruction, continuation lines joined

    def exec_form(self):
        """The JSON array of an exec-form instruction (CMD ["a", "b"]) as a list."""
        return json.loads(self.arguments)

    def options_and_words(self):
        """({"from": "build"}, ["src", "dst"]) for `COPY --from=build src dst`."""
        options, words = {}, []
        for word in self.arguments.split():
            if word.startswith("--") and not words:
                name, _, value = word[2:].partition("=")
                options[name] = value
            else:
                words.append(word)
        return options, words


def dockerfile_instructions(path):
    """The instructions of a Dockerfile, each tagged with its stage."""
    logical, pending = [], ""
    with open(path) as f:
        for line in f:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue  # comments may also sit between continuation lines
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
            else:
                logical.append(pending + stripped)
                pending = ""
    instructions, stage = [], None
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = arguments.split()
            stage = words[2] if len(words) == 3 and words[1].upper() == "AS" else words[0]
        instructions.append(Instruction(stage, keyword, " ".join(arguments.split())))
    return instructions


def runtime_packages(instructions, stage):
    """The packages `apt-get install` names in the RUN instructions of `stage`."""
    packages = []
    for ins in instructions:
        if ins.stage != stage or ins.keyword != "RUN":
            continue
        for command in re.split(r"&&|;", ins.arguments):
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                packages += [w for w in words[2:] if not w.startswith("-")]
    return packages
