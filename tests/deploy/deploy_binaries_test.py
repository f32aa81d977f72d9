"""deploy/ against the built binaries, without a Docker engine: the runtime image installs the
package of every shared library the binaries it copies link, and every --flag that the
Dockerfile, compose.yaml and the Kubernetes manifests pass is one the binary defines.

usage: deploy_binaries_test.py SOURCE_DIR BINARY_DIR
"""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_layout as layout  # noqa: E402

SOURCE_DIR = BINARY_DIR = None  # set by main()
IMAGE_BUILD_DIR = "/src/build/"  # where the Dockerfile's build stage builds (BUILD_DIR=build)


def needed_libraries(binary):
    """The DT_NEEDED entries of an ELF file: the libraries it links directly."""
    dump = subprocess.run(["objdump", "-p", binary], check=True, capture_output=True, text=True)
    return re.findall(r"^\s*NEEDED\s+(\S+)$", dump.stdout, re.M)


def resolved_libraries(binary):
    """{soname: path} as the dynamic loader resolves them for `binary`."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "=>" and words[2].startswith("/"):
            paths[words[0]] = words[2]
        elif words and words[0].startswith("/"):  # the loader itself: "/lib64/ld-linux... (0x..)"
            paths[os.path.basename(words[0])] = words[0]
    return paths


def owning_packages(library_paths):
    """{path: the Debian package that installed it}, trying each path's merged-/usr twin too.
    One dpkg call for all: each reads the whole package database."""
    candidates = {}
    for path in library_paths:
        forms = [path, os.path.realpath(path)]
        forms += [f[4:] if f.startswith("/usr/") else "/usr" + f for f in list(forms)]
        candidates[path] = forms
    every_form = sorted({f for forms in candidates.values() for f in forms})
    result = subprocess.run(["dpkg", "-S"] + every_form, capture_output=True, text=True)
    owner = {}
    for line in result.stdout.splitlines():
        package, _, owned = line.partition(": ")
        owner[owned] = package.split(":")[0]  # "libc6:amd64" -> "libc6"
    packages = {}
    for path, forms in candidates.items():
        found = [owner[f] for f in forms if f in owner]
        if not found:
            raise AssertionError(f"no Debian package holds {path}")
        packages[path] = found[0]
    return packages


def defined_flags(binary):
    """The flags `binary --helpfull` lists (absl prints them and exits 1)."""
    result = subprocess.run([binary, "--helpfull"], capture_output=True, text=True)
    return set(re.findall(r"^\s+--(\w+) \(", result.stdout + result.stderr, re.M))


class DeployBinariesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.instructions = layout.dockerfile_instructions(
            os.path.join(SOURCE_DIR, "deploy/docker/Dockerfile"))
        (copy,) = [i for i in cls.instructions
                   if i.keyword == "COPY" and i.options_and_words()[0].get("from") == "build"]
        cls.binaries = {}
        for image_path in copy.options_and_words()[1][:-1]:
            local = os.path.join(BINARY_DIR, os.path.relpath(image_path, IMAGE_BUILD_DIR))
            if not os.path.isfile(local):
                raise AssertionError(f"{local} is not built: ninja -C {BINARY_DIR} "
                                     f"{os.path.basename(local)}")
            cls.binaries[os.path.basename(local)] = local

    def test_runtime_packages_hold_every_linked_library(self):
        packages = layout.runtime_packages(self.instructions, "runtime")
        self.assertEqual(len(packages), len(set(packages)))
        needed = {}  # (binary, library) -> path
        for name, binary in self.binaries.items():
            paths = resolved_libraries(binary)
            needed.update({(name, library): paths[library] for library in needed_libraries(binary)})
        owners = owning_packages(set(needed.values()))
        for (name, library), path in sorted(needed.items()):
            with self.subTest(binary=name, library=library):
                self.assertIn(owners[path], packages)

    def test_runtime_packages_are_bookworm_packages(self):
        # The tests run on bookworm (scripts/setup.sh), where these packages must be installed
        # for the binaries to run at all; a misspelt or non-bookworm name fails here.
        packages = layout.runtime_packages(self.instructions, "runtime")
        result = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n"] + packages,
                                capture_output=True, text=True)
        installed = {line.split()[0] for line in result.stdout.splitlines()
                     if line.endswith(" install ok installed")}
        self.assertEqual(sorted(set(packages) - installed), [])

    def test_image_and_manifest_flags_exist(self):
        server = defined_flags(self.binaries["infusion-server"])
        self.assertIn("drain_grace", server)
        by_ins = {i.keyword: i for i in self.instructions if i.stage == "runtime"}
        uses = {
            "Dockerfile ENTRYPOINT": (server, by_ins["ENTRYPOINT"].exec_form()),
            "Dockerfile CMD": (server, by_ins["CMD"].exec_form()),
            "compose.yaml": (server, layout.load_yaml(
                os.path.join(SOURCE_DIR, "deploy/compose.yaml"))["services"]["server"]["command"]),
        }
        health = layout.Instruction(None, "CMD", by_ins["HEALTHCHECK"].arguments.split(" CMD ", 1)[1])
        uses["Dockerfile HEALTHCHECK"] = (defined_flags(self.binaries["infusion"]), health.exec_form())
        objects = layout.k8s_objects(SOURCE_DIR)
        (server_container,) = objects[("Deployment", "infusion-server")]["spec"]["template"]["spec"]["containers"]
        uses["deployment.yaml"] = (server, server_container["args"])
        for where, (known, args) in uses.items():
            with self.subTest(where=where):
                self.assertLessEqual(set(layout.flags(args)), known)

        (trainer,) = objects[("Job", "infusion-train")]["spec"]["template"]["spec"]["containers"]
        given = layout.shell_flag_names(trainer["args"][0], "infusion-train")
        self.assertEqual(given, {"config", "out", "resume", "threads"})
        self.assertLessEqual(given, defined_flags(self.binaries["infusion-train"]))


def main():
    global SOURCE_DIR, BINARY_DIR
    SOURCE_DIR, BINARY_DIR = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)


if __name__ == "__main__":
    main()
