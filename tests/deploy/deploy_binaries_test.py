"""deploy/ and the Debian package against the built binaries, without a Docker engine: the
package depends on the Debian package of every shared library the binaries link (runtime
packages, never -dev), every binary says the project's version, and every --flag that the
Dockerfile, compose.yaml, the Kubernetes manifests and the systemd flags file pass is one the
binary defines.

usage: deploy_binaries_test.py SOURCE_DIR BINARY...   (the installed binaries, cmake/install.cmake)
"""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_layout as layout  # noqa: E402

SOURCE_DIR = None  # set by main()
BINARIES = {}  # name -> path, set by main()


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


def package_depends():
    """deploy/debian/depends: the package's Depends (cmake/package.cmake reads the same file)."""
    with open(os.path.join(SOURCE_DIR, "deploy/debian/depends")) as f:
        return [line.strip() for line in f if re.match(r"[a-z0-9]", line)]


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"^project\(infusion VERSION (\S+) ", f.read(), re.M).group(1)


class DeployBinariesTest(unittest.TestCase):

    def test_the_installed_binaries_are_the_tested_ones(self):
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
            listed = re.search(r"set\(INFUSION_INSTALLED_TARGETS\s+([^)]*)\)", f.read()).group(1)
        self.assertEqual(sorted(listed.split()), sorted(BINARIES))

    def test_package_depends_hold_every_linked_library(self):
        packages = package_depends()
        self.assertEqual(len(packages), len(set(packages)))
        needed = {}  # (binary, library) -> path
        for name, binary in BINARIES.items():
            paths = resolved_libraries(binary)
            needed.update({(name, library): paths[library] for library in needed_libraries(binary)})
        owners = owning_packages(set(needed.values()))
        for (name, library), path in sorted(needed.items()):
            with self.subTest(binary=name, library=library):
                self.assertIn(owners[path], packages)

    def test_package_depends_are_installed_runtime_packages(self):
        # The tests run on bookworm (scripts/setup.sh), where these packages must be installed
        # for the binaries to run at all; a misspelt or non-bookworm name fails here.
        packages = package_depends()
        self.assertEqual([p for p in packages if p.endswith("-dev")], [])
        result = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n"] + packages,
                                capture_output=True, text=True)
        installed = {line.split()[0] for line in result.stdout.splitlines()
                     if line.endswith(" install ok installed")}
        self.assertEqual(sorted(set(packages) - installed), [])

    def test_every_binary_says_the_project_version(self):
        version = project_version()
        for name, binary in BINARIES.items():
            with self.subTest(binary=name):
                result = subprocess.run([binary, "--version"], capture_output=True, text=True)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(result.stdout, f"{name} {version}\n")

    def test_image_manifest_and_service_flags_exist(self):
        server = defined_flags(BINARIES["infusion-server"])
        self.assertIn("drain_grace", server)
        instructions = layout.dockerfile_instructions(
            os.path.join(SOURCE_DIR, "deploy/docker/Dockerfile"))
        (entrypoint,) = [i for i in instructions if i.keyword == "ENTRYPOINT"]
        entrypoint = entrypoint.exec_form()
        uses = {
            "Dockerfile ENTRYPOINT": entrypoint,
            "Dockerfile --tryfromenv": ["--" + name for name in
                                        layout.flags(entrypoint)["tryfromenv"].split(",")],
            "compose.yaml": layout.load_yaml(
                os.path.join(SOURCE_DIR, "deploy/compose.yaml"))["services"]["server"]["command"],
        }
        with open(os.path.join(SOURCE_DIR, "deploy/systemd/infusion-server.flags")) as f:
            uses["infusion-server.flags"] = [line.strip() for line in f if line.startswith("--")]
        objects = layout.k8s_objects(SOURCE_DIR)
        (server_container,) = objects[("Deployment", "infusion-server")]["spec"]["template"]["spec"]["containers"]
        uses["deployment.yaml"] = server_container["args"]
        for where, args in uses.items():
            with self.subTest(where=where):
                self.assertTrue(layout.flags(args))
                self.assertLessEqual(set(layout.flags(args)), server | {"flagfile", "tryfromenv"})

        (trainer,) = objects[("Job", "infusion-train")]["spec"]["template"]["spec"]["containers"]
        given = layout.shell_flag_names(trainer["args"][0], "infusion-train")
        self.assertEqual(given, {"config", "out", "resume", "threads"})
        self.assertLessEqual(given, defined_flags(BINARIES["infusion-train"]))


def main():
    global SOURCE_DIR
    SOURCE_DIR = sys.argv[1]
    for binary in sys.argv[2:]:
        BINARIES[os.path.basename(binary)] = binary
    unittest.main(argv=sys.argv[:1], verbosity=2)


if __name__ == "__main__":
    main()
