"""The shipped monitoring against a real infusion-server and a real Prometheus (Debian's), on
loopback:

- every metric that the alert rules, the Grafana dashboard and the Prometheus adapter query is
  one the server exports at /metrics;
- Prometheus, configured from deploy/prometheus/prometheus.yml (intervals shortened to 1 s,
  target pointed at the test's server), scrapes every series of the server, with the values the
  server reports, and evaluates every alert rule without error.

The server runs on a random tiny model and gets three calls (model info, a text generation and
a text-to-image) so that the per-call families have series. It is ready when the Dockerfile's
own HEALTHCHECK command says so.

usage: prometheus_test.py SOURCE_DIR INFUSION_SERVER INFUSION_TOOL INFUSION
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_layout as layout  # noqa: E402
from metric_names import (PROMETHEUS_SERIES, exported, exposition_families,  # noqa: E402
                          grafana_query_metric_names, promql_metric_names)

SOURCE_DIR = SERVER = TOOL = CLIENT = None  # set by main()
TIMEOUT_S = 120  # generous: the suite may share the CPU with other work


def source(relative):
    return os.path.join(SOURCE_DIR, relative)


def wait_for(what, attempt, timeout_s=TIMEOUT_S):
    """Calls attempt() every 0.2 s until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = attempt()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_names(exposition):
    """The series names of a text exposition: {"x_bucket", "x_sum", "x_count", "y", ...}."""
    return {line.split("{")[0].split()[0] for line in exposition.splitlines()
            if line and not line.startswith("#")}


def sample_value(exposition, name):
    (value,) = [line.split()[-1] for line in exposition.splitlines() if line.split(" ")[0] == name]
    return float(value)


def queried_metrics():
    """{metric name: where it is queried} over the alert rules, the dashboard (panels and
    template variables) and the Prometheus adapter's rule."""
    queries = []
    rules = layout.load_yaml(source("deploy/prometheus/alerts.yml"))
    queries += [("alerts.yml " + r["alert"], r["expr"], promql_metric_names)
                for g in rules["groups"] for r in g["rules"]]
    with open(source("deploy/grafana/dashboards/infusion.json")) as f:
        dashboard = json.load(f)
    queries += [("dashboard " + p["title"], t["expr"], promql_metric_names)
                for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [("dashboard variable " + v["name"], v["query"]["query"], grafana_query_metric_names)
                for v in dashboard["templating"]["list"] if v["type"] == "query"]
    adapter = layout.k8s_objects(SOURCE_DIR)[("ConfigMap", "adapter-config")]
    queries += [("prometheus-adapter", rule["seriesQuery"], promql_metric_names)
                for rule in yaml.safe_load(adapter["data"]["config.yaml"])["rules"]]
    where = {}
    for place, expr, names in queries:
        for name in names(expr):
            where.setdefault(name, place)
    return where


class PrometheusTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="infusion-deploy-")
        cls.addClassCleanup(shutil.rmtree, cls.work)
        cls.start_server()
        cls.make_calls()
        cls.exposition = http_get(f"http://127.0.0.1:{cls.metrics_port}/metrics")
        cls.start_prometheus()

    @classmethod
    def start_process(cls, name, command, env=None):
        log = open(os.path.join(cls.work, f"{name}.log"), "w")
        cls.addClassCleanup(log.close)
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

        def stop():
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        cls.addClassCleanup(stop)
        return process

    @classmethod
    def log_of(cls, name):
        with open(os.path.join(cls.work, f"{name}.log")) as f:
            return f.read()[-3000:]

    @classmethod
    def start_server(cls):
        model = os.path.join(cls.work, "model")
        subprocess.run([TOOL, "init", "--config", source("tests/data/configs/tiny-linear.json"),
                        "--out", model, "--seed", "1",
                        "--tokenizer_corpus", source("tests/data/corpus.txt")],
                       check=True, stdout=subprocess.DEVNULL)
        port_file = os.path.join(cls.work, "ports")
        cls.server = cls.start_process(
            "server", [SERVER, f"--model={model}", "--host=127.0.0.1", "--port=0",
                       "--metrics_port=0", "--http_port=0", f"--port_file={port_file}", "--threads=1",
                       "--kv_cache_mb=16"],
            env=dict(os.environ, OMP_NUM_THREADS="1"))

        def ports():
            if cls.server.poll() is not None:
                raise AssertionError("infusion-server exited:\n" + cls.log_of("server"))
            if os.path.exists(port_file):
                with open(port_file) as f:
                    found = dict(line.split() for line in f)
                return found if "http" in found else None
            return None
        listening = wait_for("infusion-server to listen", ports)
        cls.grpc_port, cls.metrics_port = int(listening["grpc"]), int(listening["metrics"])

        # Ready when the image's own health check passes (it fails until the warm-up is done):
        # its shell command, pointed at this server's HTTP port, without TLS.
        instructions = layout.dockerfile_instructions(source("deploy/docker/Dockerfile"))
        (check,) = [i for i in instructions if i.keyword == "HEALTHCHECK"]
        (entrypoint,) = [i for i in instructions if i.keyword == "ENTRYPOINT"]
        image_port = layout.flags(entrypoint.exec_form())["http_port"]
        health = check.arguments.split(" CMD ", 1)[1].replace(
            f"127.0.0.1:{image_port}/", f"127.0.0.1:{listening['http']}/")
        env = {k: v for k, v in os.environ.items() if k != "FLAGS_tls_cert"}
        wait_for("the health check to pass",
                 lambda: subprocess.run(["sh", "-c", health], capture_output=True,
                                        env=env).returncode == 0)

    @classmethod
    def make_calls(cls):
        client = [CLIENT, f"--server=127.0.0.1:{cls.grpc_port}", "--timeout=30s"]
        for call in (["info"],
                     ["--max_tokens=3", "--max_images=0", "generate", "hello"],
                     ["--steps=1", "t2i", "a red circle", f"--out={cls.work}/t2i.png"]):
            subprocess.run(client + call, check=True, capture_output=True)

    @classmethod
    def start_prometheus(cls):
        config = layout.load_yaml(source("deploy/prometheus/prometheus.yml"))
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [source(f"deploy/prometheus/{f}") for f in config["rule_files"]]
        (scrape,) = config["scrape_configs"]
        scrape["static_configs"] = [{"targets": [f"127.0.0.1:{cls.metrics_port}"]}]
        config_file = os.path.join(cls.work, "prometheus.yml")
        with open(config_file, "w") as f:
            yaml.safe_dump(config, f)
        cls.api = f"http://127.0.0.1:{free_port()}"
        prometheus = cls.start_process(
            "prometheus", ["prometheus", f"--config.file={config_file}",
                           f"--storage.tsdb.path={cls.work}/tsdb",
                           f"--web.listen-address={cls.api[len('http://'):]}"])

        def ready():
            if prometheus.poll() is not None:
                raise AssertionError("prometheus exited:\n" + cls.log_of("prometheus"))
            try:
                return http_get(f"{cls.api}/-/ready")
            except OSError:
                return None
        wait_for("Prometheus to be ready", ready)

    def query(self, expr):
        url = f"{self.api}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        answer = json.loads(http_get(url))
        self.assertEqual(answer["status"], "success", answer)
        return answer["data"]["result"]

    def test_rules_dashboard_and_adapter_query_only_exported_metrics(self):
        families = exposition_families(self.exposition)
        where = queried_metrics()
        self.assertGreaterEqual(len(where), 15)
        missing = {name: place for name, place in where.items()
                   if not (exported(name, families) or name in PROMETHEUS_SERIES)}
        self.assertEqual(missing, {}, "queried, but infusion-server does not export them")

    def test_prometheus_scrapes_every_series_of_the_server(self):
        expected = sample_names(self.exposition)
        self.assertIn("infusion_requests_total", expected)  # the calls have happened
        self.assertIn("infusion_e2e_request_latency_seconds_bucket", expected)

        def scraped():
            names = {s["metric"]["__name__"]
                     for s in self.query('count by (__name__) ({job="infusion"})')}
            return names if names >= expected else None
        names = wait_for("Prometheus to have every series of the server", scraped)
        self.assertEqual(names - expected, {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                            "scrape_samples_post_metric_relabeling",
                                            "scrape_series_added"})

        (up,) = self.query('up{job="infusion"}')
        self.assertEqual(up["metric"]["instance"], f"127.0.0.1:{self.metrics_port}")
        self.assertEqual(up["value"][1], "1")
        # The server is idle now, so Prometheus holds exactly what /metrics said.
        (steps,) = self.query('infusion_engine_steps_total{job="infusion"}')
        self.assertEqual(float(steps["value"][1]),
                         sample_value(self.exposition, "infusion_engine_steps_total"))
        calls = {s["metric"]["rpc"]: s["value"][1]
                 for s in self.query('sum by (rpc) (infusion_requests_total{code="OK"})')}
        self.assertEqual(calls, {"GetModelInfo": "1", "Generate": "1", "TextToImage": "1"})

    def test_prometheus_evaluates_every_alert_rule(self):
        rules = layout.load_yaml(source("deploy/prometheus/alerts.yml"))
        alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}

        def evaluated():
            loaded = json.loads(http_get(f"{self.api}/api/v1/rules"))["data"]["groups"]
            health = {r["name"]: (r["health"], r.get("lastError", ""))
                      for g in loaded for r in g["rules"]}
            return health if set(health) == alerts and all(
                h != "unknown" for h, _ in health.values()) else None
        health = wait_for("Prometheus to evaluate the alert rules", evaluated)
        self.assertEqual(health, {alert: ("ok", "") for alert in alerts})
        # A healthy, idle server: nothing is even pending.
        self.assertEqual(json.loads(http_get(f"{self.api}/api/v1/alerts"))["data"]["alerts"], [])


def main():
    global SOURCE_DIR, SERVER, TOOL, CLIENT
    SOURCE_DIR, SERVER, TOOL, CLIENT = sys.argv[1:5]
    unittest.main(argv=sys.argv[:1], verbosity=2)


if __name__ == "__main__":
    main()
