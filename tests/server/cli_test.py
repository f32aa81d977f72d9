"""The `infusion` CLI against a real infusion-server with TLS and API keys on, and the image's
health check on the same server:

- $INFUSION_SERVER and $INFUSION_API_KEY stand in for --server and --api_key; a flag given on
  the command line wins over either; an empty variable counts as unset;
- every image the CLI writes is reported with the seed that drew it, also when none was asked
  for, and that seed draws the same PNG again (another seed draws another);
- deploy/docker/Dockerfile's HEALTHCHECK command passes against the TLS server when
  FLAGS_tls_cert is set (HTTPS) and fails against it without (plain HTTP).

usage: cli_test.py INFUSION_SERVER INFUSION MODEL_DIR SOURCE_DIR
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SERVER = CLI = MODEL = SOURCE_DIR = None  # set by main()
API_KEY = "test-key-1"


def dockerfile_healthcheck(source_dir):
    """The shell command of the Dockerfile's HEALTHCHECK (its shell form) and the HTTP port of
    the ENTRYPOINT, which the command names."""
    with open(os.path.join(source_dir, "deploy/docker/Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    (check,) = re.findall(r"^HEALTHCHECK .* CMD (.*)$", text, re.M)
    (port,) = re.findall(r'"--http_port=(\d+)"', text)
    return check, port


class CliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="infusion-cli-")
        cls.addClassCleanup(shutil.rmtree, cls.work)
        cls.cert, key = os.path.join(cls.work, "server.crt"), os.path.join(cls.work, "server.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cls.cert], check=True, capture_output=True)
        keys = os.path.join(cls.work, "keys")
        with open(keys, "w") as f:
            f.write(API_KEY + "\n")
        port_file = os.path.join(cls.work, "ports")
        cls.log = open(os.path.join(cls.work, "server.log"), "w")
        cls.addClassCleanup(cls.log.close)
        cls.server = subprocess.Popen(
            [SERVER, f"--model={MODEL}", "--host=127.0.0.1", "--port=0", "--http_port=0",
             "--metrics_port=0", f"--port_file={port_file}", "--threads=1", "--kv_cache_mb=16",
             f"--tls_cert={cls.cert}", f"--tls_key={key}", f"--api_keys_file={keys}"],
            stdout=cls.log, stderr=subprocess.STDOUT,
            # Neither thread variable set: the server must set both itself (restarting once).
            env=dict({k: v for k, v in os.environ.items()
                      if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                   "OPENBLAS_THREAD_TIMEOUT")},
                     OMP_NUM_THREADS="1"))
        cls.addClassCleanup(cls.stop_server)
        deadline = time.monotonic() + 60
        while not (os.path.exists(port_file) and "http" in open(port_file).read()):
            if cls.server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("infusion-server did not start:\n" + cls.server_log())
            time.sleep(0.1)
        with open(port_file) as f:
            ports = dict(line.split() for line in f)
        cls.address = f"127.0.0.1:{ports['grpc']}"
        cls.http_port = ports["http"]
        # Ready when the CLI's own health check says so (it fails until the warm-up is done).
        while cls.cli(["health", "infusion.v1.Infusion"], INFUSION_SERVER=cls.address,
                      INFUSION_API_KEY=API_KEY).returncode:
            if cls.server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("infusion-server did not get ready:\n" + cls.server_log())
            time.sleep(0.2)

    @classmethod
    def stop_server(cls):
        cls.server.send_signal(signal.SIGTERM)
        try:
            cls.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()

    @classmethod
    def server_log(cls):
        with open(os.path.join(cls.work, "server.log")) as f:
            return f.read()[-3000:]

    @classmethod
    def cli(cls, args, **env):
        """Runs `infusion --tls ARGS` with exactly the INFUSION_* variables given."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_")}
        return subprocess.run(
            [CLI, "--tls", f"--tls_root_certs={cls.cert}", "--timeout=60s"] + args,
            capture_output=True, text=True, env=dict(clean, **env), cwd=cls.work)

    # --- INFUSION_SERVER and INFUSION_API_KEY

    def test_the_server_sets_the_thread_variables_it_needs(self):
        # common/process_env.h: libgomp's threads must spin only briefly and OpenBLAS's sleep
        # between products; the server re-executes itself (same pid) with them when unset.
        with open(f"/proc/{self.server.pid}/environ", "rb") as f:
            variables = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        self.assertEqual(variables.get(b"GOMP_SPINCOUNT"), b"1000")
        self.assertNotIn(b"OMP_WAIT_POLICY", variables)
        self.assertEqual(variables.get(b"OPENBLAS_THREAD_TIMEOUT"), b"4")

    def test_environment_names_the_server_and_the_key(self):
        result = self.cli(["info"], INFUSION_SERVER=self.address, INFUSION_API_KEY=API_KEY)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('name: "', result.stdout)

    def test_without_a_key_the_call_is_refused(self):
        result = self.cli(["info"], INFUSION_SERVER=self.address)
        self.assertEqual(result.returncode, 1)
        self.assertIn("UNAUTHENTICATED", result.stderr)
        # An empty variable is no key either.
        result = self.cli(["info"], INFUSION_SERVER=self.address, INFUSION_API_KEY="")
        self.assertIn("UNAUTHENTICATED", result.stderr)

    def test_flags_win_over_the_environment(self):
        result = self.cli([f"--server={self.address}", f"--api_key={API_KEY}", "info"],
                          INFUSION_SERVER="127.0.0.1:1", INFUSION_API_KEY="wrong-key")
        self.assertEqual(result.returncode, 0, result.stderr)
        result = self.cli(["--api-key=wrong-key", "info"],  # the dashed spelling too
                          INFUSION_SERVER=self.address, INFUSION_API_KEY=API_KEY)
        self.assertIn("UNAUTHENTICATED", result.stderr)

    def test_without_either_the_default_address_is_used(self):
        # Nothing listens on localhost:50051 with this certificate here: the call fails there,
        # not at the test server (whose port is never 50051: it was chosen by the kernel).
        self.assertNotEqual(self.address.split(":")[1], "50051")
        result = self.cli(["--timeout=3s", "info"], INFUSION_API_KEY=API_KEY)
        self.assertEqual(result.returncode, 1)
        self.assertNotIn('name: "', result.stdout)

    # --- seeds

    def t2i(self, out, *flags):
        result = self.cli(["--steps=2", *flags, "t2i", "a red circle", "-o", out],
                          INFUSION_SERVER=self.address, INFUSION_API_KEY=API_KEY)
        self.assertEqual(result.returncode, 0, result.stderr)
        match = re.search(r"^wrote (\S+) \(seed (\d+)\)$", result.stderr, re.M)
        self.assertIsNotNone(match, result.stderr)
        self.assertEqual(match.group(1), out)
        with open(os.path.join(self.work, out), "rb") as f:
            return int(match.group(2)), f.read()

    def test_the_seed_of_an_image_draws_it_again(self):
        seed, first = self.t2i("random.png")  # no --seed: the server draws one and says which
        self.assertTrue(first.startswith(b"\x89PNG"))
        again_seed, again = self.t2i("again.png", f"--seed={seed}")
        self.assertEqual(again_seed, seed)
        self.assertEqual(again, first)
        next_seed = (seed + 1) % 2**64
        other_seed, other = self.t2i("other.png", f"--seed={next_seed}")
        self.assertEqual(other_seed, next_seed)
        self.assertNotEqual(other, first)

    def test_seeds_span_uint64(self):
        # The server draws seeds from all of uint64: the CLI takes back any it prints.
        largest = 2**64 - 1
        self.assertEqual(self.t2i("max.png", f"--seed={largest}")[0], largest)
        for bad in ("-1", str(2**64), "seven"):
            with self.subTest(seed=bad):
                result = self.cli([f"--seed={bad}", "t2i", "x"], INFUSION_SERVER=self.address,
                                  INFUSION_API_KEY=API_KEY)
                self.assertEqual(result.returncode, 1)
                self.assertIn("--seed:", result.stderr)

    def test_a_second_unseeded_call_gets_another_seed(self):
        first, _ = self.t2i("a.png")
        second, _ = self.t2i("b.png")
        self.assertNotEqual(first, second)

    # --- the image's health check

    def test_dockerfile_healthcheck_speaks_https_when_tls_is_configured(self):
        check, image_port = dockerfile_healthcheck(SOURCE_DIR)
        command = check.replace(f"127.0.0.1:{image_port}", f"127.0.0.1:{self.http_port}")
        self.assertNotEqual(command, check)
        tls_on = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                                env=dict(os.environ, FLAGS_tls_cert=self.cert))
        self.assertEqual(tls_on.returncode, 0, tls_on.stderr)
        env = {k: v for k, v in os.environ.items() if k != "FLAGS_tls_cert"}
        tls_off = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
        self.assertNotEqual(tls_off.returncode, 0)  # plain HTTP to a TLS port


def main():
    global SERVER, CLI, MODEL, SOURCE_DIR
    SERVER, CLI, MODEL, SOURCE_DIR = sys.argv[1:5]
    unittest.main(argv=sys.argv[:1], verbosity=2)


if __name__ == "__main__":
    main()
