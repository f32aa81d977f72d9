"""The files under deploy/ are valid for the tools that read them and agree with each other and
with the server: Prometheus's own checks and rule unit tests, YAML that parses, a Dockerfile
whose COPY sources exist, compose services that point at each other, a well-formed Grafana
dashboard, and Kubernetes objects whose selectors, ports, probes and timings line up.

usage: deploy_files_test.py SOURCE_DIR
"""

import json
import os
import re
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_layout as layout  # noqa: E402
from metric_names import (exported, exposition_families, grafana_query_metric_names,  # noqa: E402
                          promql_metric_names)

SOURCE_DIR = None  # set by main()


def path(relative):
    return os.path.join(SOURCE_DIR, relative)


def run(*command):
    return subprocess.run(command, cwd=SOURCE_DIR, capture_output=True, text=True)


class MetricNamesTest(unittest.TestCase):
    """The tokenizer that the metric checks of prometheus_test.py rely on."""

    def test_names_in_expressions(self):
        cases = {
            'up{job="infusion"} == 0': {"up"},
            'histogram_quantile(0.99, sum by (job, le) (rate(a_seconds_bucket{job="x"}[5m]))) > 5':
                {"a_seconds_bucket"},
            'sum(rate(a_total{code=~"INTERNAL|UNKNOWN"}[5m])) / sum(rate(a_total[5m])) > 0.05':
                {"a_total"},
            "x > 0 and deriv(y[5m]) > 0": {"x", "y"},
            "sum(rate(b[$__rate_interval])) / ignoring(span) group_left sum(c) offset 1h": {"b", "c"},
            'sum by (span) (rate(s{instance=~"$instance"}[1m])) / scalar(sum(rate(t[1m])))': {"s", "t"},
            "max(q) by (le) * 1e3 > bool 2": {"q"},
            'label_replace(m, "dst", "$1", "src", "(.*)")': {"m"},
            "job:requests:rate5m": {"job:requests:rate5m"},
            "vector(1) + time()": set(),
        }
        for expr, names in cases.items():
            with self.subTest(expr=expr):
                self.assertEqual(promql_metric_names(expr), names)

    def test_names_in_grafana_variable_queries(self):
        self.assertEqual(grafana_query_metric_names('label_values(b_info{job="a", x="1"}, instance)'),
                         {"b_info"})
        self.assertEqual(grafana_query_metric_names("label_values(instance)"), set())
        self.assertEqual(grafana_query_metric_names("query_result(max(g))"), {"g"})

    def test_series_names_resolve_to_families_of_the_right_type(self):
        families = exposition_families(
            "# HELP a_seconds Latency\n# TYPE a_seconds histogram\n"
            'a_seconds_bucket{le="+Inf"} 1\na_seconds_sum 0.5\na_seconds_count 1\n'
            "# TYPE b_total counter\nb_total 3\n# TYPE s summary\n# TYPE g gauge\ng 1\n")
        self.assertEqual(families, {"a_seconds": "histogram", "b_total": "counter",
                                    "s": "summary", "g": "gauge"})
        cases = {"a_seconds_bucket": True, "a_seconds_count": True, "a_seconds": False,
                 "b_total": True, "b": False, "s_sum": True, "s_bucket": False, "g": True,
                 "g_count": False, "c": False}
        for name, expected in cases.items():
            with self.subTest(name=name):
                self.assertEqual(exported(name, families), expected)


class PrometheusFilesTest(unittest.TestCase):

    def test_promtool_check_config(self):
        result = run("promtool", "check", "config", "deploy/prometheus/prometheus.yml")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_promtool_check_rules(self):
        result = run("promtool", "check", "rules", "deploy/prometheus/alerts.yml")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("SUCCESS: 6 rules found", result.stdout)

    def test_alerts_fire_when_their_unit_tests_say(self):
        result = run("promtool", "test", "rules", "tests/deploy/alerts_test.yml")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_every_alert_has_unit_tests(self):
        rules = layout.load_yaml(path("deploy/prometheus/alerts.yml"))
        alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
        cases = layout.load_yaml(path("tests/deploy/alerts_test.yml"))
        tested = {t["alertname"] for case in cases["tests"] for t in case["alert_rule_test"]}
        self.assertEqual(alerts, tested)

    def test_every_alert_has_a_severity_and_a_summary(self):
        rules = layout.load_yaml(path("deploy/prometheus/alerts.yml"))
        for rule in (r for g in rules["groups"] for r in g["rules"]):
            with self.subTest(alert=rule["alert"]):
                self.assertIn(rule["labels"]["severity"], ("critical", "warning"))
                self.assertTrue(rule["annotations"]["summary"])

    def test_alerts_select_the_scrape_job(self):
        config = layout.load_yaml(path("deploy/prometheus/prometheus.yml"))
        (job,) = [c["job_name"] for c in config["scrape_configs"]]
        rules = layout.load_yaml(path("deploy/prometheus/alerts.yml"))
        for rule in (r for g in rules["groups"] for r in g["rules"]):
            with self.subTest(alert=rule["alert"]):
                self.assertIn(f'job="{job}"', rule["expr"])


class YamlTest(unittest.TestCase):

    def test_every_yaml_file_parses(self):
        files = layout.yaml_files(SOURCE_DIR) + ["tests/deploy/alerts_test.yml"]
        self.assertGreaterEqual(len(files), 14)
        for relative in files:
            with self.subTest(file=relative):
                documents = layout.load_yaml_documents(path(relative))
                self.assertTrue(documents)
                for doc in documents:
                    self.assertIsInstance(doc, dict)

    def test_the_adapter_config_inside_its_config_map_parses(self):
        self.assertEqual(len(adapter_rules(layout.k8s_objects(SOURCE_DIR))), 1)


class DockerfileTest(unittest.TestCase):

    def setUp(self):
        self.instructions = layout.dockerfile_instructions(path("deploy/docker/Dockerfile"))

    def of(self, keyword, stage=None):
        return [i for i in self.instructions
                if i.keyword == keyword and (stage is None or i.stage == stage)]

    def test_stages(self):
        self.assertEqual([i.arguments for i in self.of("FROM")],
                         ["debian:bookworm AS build", "debian:bookworm-slim AS runtime"])

    def test_every_copy_source_is_in_the_repository(self):
        copies = [i for i in self.of("COPY") if "from" not in i.options_and_words()[0]]
        self.assertGreaterEqual(len(copies), 2)
        for ins in copies:
            for source in ins.options_and_words()[1][:-1]:
                with self.subTest(source=source):
                    self.assertTrue(os.path.exists(path(source)), source)

    def test_the_build_stage_packages_and_the_runtime_stage_installs_the_package(self):
        (build,) = [i for i in self.of("RUN", "build") if "scripts/package.sh" in i.arguments]
        self.assertIn("BUILD_DIR=build ", build.arguments)
        self.assertIn("--build-only", build.arguments)
        # cpack writes BUILD_DIR/packages/ (cmake/package.cmake); the runtime stage takes that.
        with open(path("cmake/package.cmake")) as f:
            self.assertIn("set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/packages)", f.read())
        (copy,) = [i for i in self.of("COPY", "runtime") if "from" in i.options_and_words()[0]]
        options, (source, destination) = copy.options_and_words()
        self.assertEqual(options["from"], "build")
        self.assertEqual(source, "/src/build/packages/")
        debs = [p for p in layout.runtime_packages(self.instructions, "runtime") if p.endswith(".deb")]
        self.assertEqual(debs, [destination + "infusion_*.deb"])

    def test_the_runtime_stage_has_no_compiler_and_no_dev_package(self):
        packages = layout.runtime_packages(self.instructions, "runtime")
        self.assertGreaterEqual(len(packages), 2)
        toolchain = re.compile(r"^(build-essential|gcc|g\+\+|cpp|clang|llvm|cmake|ninja-build|make|"
                               r"ccache|pkg-config|binutils|libc6-dev|protobuf-compiler)(-[\d.]+)?$")
        for package in packages:
            with self.subTest(package=package):
                self.assertFalse(package.endswith("-dev"), package)
                self.assertIsNone(toolchain.match(package), package)
        # Only one base image for the runtime stage, and it is the slim one.
        (runtime,) = [i for i in self.of("FROM") if i.stage == "runtime"]
        self.assertTrue(runtime.arguments.startswith("debian:bookworm-slim "))

    def test_non_root_user(self):
        (user,) = self.of("USER", "runtime")
        self.assertNotIn(user.arguments, ("root", "0"))
        (useradd,) = [i for i in self.of("RUN", "runtime") if "useradd" in i.arguments]
        self.assertIn(f" {user.arguments}", useradd.arguments)
        # The uid the Kubernetes pods run as (runAsUser) is the image user's.
        uid = re.search(r"--uid (\d+)", useradd.arguments).group(1)
        pod = layout.k8s_objects(SOURCE_DIR)[("Deployment", "infusion-server")]["spec"]["template"]
        self.assertEqual(pod["spec"]["securityContext"]["runAsUser"], int(uid))

    def test_ports_and_health_check(self):
        (entrypoint,) = self.of("ENTRYPOINT", "runtime")
        server_flags = layout.flags(entrypoint.exec_form())
        (expose,) = self.of("EXPOSE", "runtime")
        self.assertEqual(expose.arguments.split(), [server_flags["port"], server_flags["http_port"],
                                                    server_flags["metrics_port"]])
        (check,) = self.of("HEALTHCHECK", "runtime")
        options, command = check.arguments.split(" CMD ", 1)
        # The HTTP port's /ready: 503 until warmed up and again while draining.
        self.assertIn(f"://127.0.0.1:{server_flags['http_port']}/ready", command)
        self.assertTrue(command.startswith("curl -f"), command)
        self.assertIn("curl", layout.runtime_packages(self.instructions, "runtime"))
        # HTTPS (and -k) exactly when FLAGS_tls_cert is set, which the server reads through
        # --tryfromenv: the variable that turns TLS on also tells the check (tests/server/
        # cli_test.py runs the command against a TLS server).
        self.assertIn('"http${FLAGS_tls_cert:+s}://', command)
        self.assertIn("${FLAGS_tls_cert:+-k}", command)
        self.assertEqual(set(server_flags["tryfromenv"].split(",")),
                         {"tls_cert", "tls_key", "api_keys_file"})
        self.assertIn("--start-period=", options)
        (stop,) = self.of("STOPSIGNAL", "runtime")
        self.assertEqual(stop.arguments, "SIGTERM")  # the server drains on SIGTERM


class SystemdTest(unittest.TestCase):
    """deploy/systemd: the unit the .deb installs, its flags file and its environment file."""

    def setUp(self):
        self.unit = {}
        with open(path("deploy/systemd/infusion-server.service.in")) as f:
            section = None
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    section = line.strip("[]")
                elif line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    self.unit.setdefault(section, {})[key] = value
        self.service = self.unit["Service"]
        with open(path("deploy/systemd/infusion-server.flags")) as f:
            self.flags = layout.flags(line.strip() for line in f if line.startswith("--"))

    def test_stop_drains(self):
        self.assertEqual(self.service["KillSignal"], "SIGTERM")
        self.assertEqual(self.service["KillMode"], "mixed")  # SIGTERM to the server alone
        drain = layout.parse_seconds(self.flags["drain_grace"])
        self.assertGreater(float(self.service["TimeoutStopSec"]), drain)

    def test_runs_as_its_own_user_with_its_flags_and_environment(self):
        self.assertEqual(self.service["User"], "infusion")
        with open(path("deploy/debian/postinst")) as f:
            self.assertIn("adduser --system --group --quiet --no-create-home --home /nonexistent "
                          "infusion", f.read())
        self.assertEqual(self.service["EnvironmentFile"], "-@SYSCONFDIR@/default/infusion-server")
        self.assertEqual(self.service["ExecStart"].split(),
                         ["@BINDIR@/infusion-server",
                          "--flagfile=@SYSCONFDIR@/infusion/infusion-server.flags",
                          "$INFUSION_SERVER_ARGS"])
        with open(path("deploy/systemd/infusion-server.default")) as f:
            variables = dict(line.strip().split("=", 1) for line in f
                             if line.strip() and not line.startswith("#"))
        self.assertEqual(variables, {"INFUSION_SERVER_ARGS": '""', "GOMP_SPINCOUNT": "1000",
                                     "OPENBLAS_THREAD_TIMEOUT": "4"})
        self.assertEqual(self.unit["Install"], {"WantedBy": "multi-user.target"})

    def test_the_package_installs_the_files_the_unit_names(self):
        with open(path("cmake/install.cmake")) as f:
            install = f.read()
        for source, destination in (
                ("infusion-server.service", "DESTINATION lib/systemd/system"),
                ("deploy/systemd/infusion-server.flags",
                 "DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/infusion)"),
                ("deploy/systemd/infusion-server.default",
                 "DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default RENAME infusion-server)")):
            with self.subTest(file=source):
                self.assertRegex(install, re.escape(source) + r"\s+" + re.escape(destination))

    def test_maintainer_scripts_are_shell_scripts_that_parse(self):
        for name in ("postinst", "prerm", "postrm"):
            script = path(f"deploy/debian/{name}")
            with self.subTest(script=name):
                self.assertTrue(os.access(script, os.X_OK))
                result = run("sh", "-n", script)
                self.assertEqual(result.returncode, 0, result.stderr)


class ComposeTest(unittest.TestCase):

    def setUp(self):
        self.compose = layout.load_yaml(path("deploy/compose.yaml"))
        self.services = self.compose["services"]

    def test_build_and_bind_mounts_exist(self):
        build = self.services["server"]["build"]
        context = os.path.normpath(os.path.join(path("deploy"), build["context"]))
        self.assertEqual(context, os.path.normpath(SOURCE_DIR))
        self.assertTrue(os.path.isfile(os.path.join(context, build["dockerfile"])))
        for name, service in self.services.items():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    with self.subTest(service=name, volume=volume):
                        self.assertTrue(os.path.isdir(os.path.join(path("deploy"), source)))

    def test_prometheus_scrapes_the_server_metrics_port(self):
        config = layout.load_yaml(path("deploy/prometheus/prometheus.yml"))
        (scrape,) = config["scrape_configs"]
        (target,) = scrape["static_configs"][0]["targets"]
        host, port = target.split(":")
        self.assertEqual(host, "server")
        self.assertIn(port, self.services["server"]["expose"])
        self.assertEqual(port, image_server_flags()["metrics_port"])
        mount = self.services["prometheus"]["volumes"][0]
        self.assertEqual(mount, "./prometheus:/etc/prometheus:ro")
        self.assertIn("--config.file=/etc/prometheus/prometheus.yml",
                      self.services["prometheus"]["command"])

    def test_grafana_provisioning_points_at_prometheus_and_the_dashboards(self):
        sources = layout.load_yaml(path("deploy/grafana/provisioning/datasources/prometheus.yml"))
        (source,) = sources["datasources"]
        self.assertEqual(source["url"], "http://prometheus:9090")
        self.assertIn("9090:9090", self.services["prometheus"]["ports"])
        providers = layout.load_yaml(path("deploy/grafana/provisioning/dashboards/infusion.yml"))
        (provider,) = providers["providers"]
        mounts = dict(v.split(":")[1::-1] for v in self.services["grafana"]["volumes"])
        self.assertEqual(mounts[provider["options"]["path"]], "./grafana/dashboards")
        home = self.services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        relative = os.path.relpath(home, provider["options"]["path"])
        self.assertTrue(os.path.isfile(path(os.path.join("deploy/grafana/dashboards", relative))))

    def test_stop_grace_covers_the_drain(self):
        drain = layout.parse_seconds(layout.flags(self.services["server"]["command"])["drain_grace"])
        self.assertGreater(layout.parse_seconds(self.services["server"]["stop_grace_period"]), drain)


class GrafanaDashboardTest(unittest.TestCase):

    def setUp(self):
        with open(path("deploy/grafana/dashboards/infusion.json")) as f:
            self.dashboard = json.load(f)
        self.panels = self.dashboard["panels"]

    def test_panel_ids_are_unique_and_panels_fit_the_grid(self):
        ids = [p["id"] for p in self.panels]
        self.assertEqual(len(ids), len(set(ids)))
        for panel in self.panels:
            grid = panel["gridPos"]
            self.assertLessEqual(grid["x"] + grid["w"], 24, panel["title"])

    def test_every_query_has_a_metric_and_the_datasource_variable(self):
        variables = {v["name"] for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables, {"datasource", "instance"})
        targets = [t for p in self.panels for t in p.get("targets", [])]
        self.assertGreaterEqual(len(targets), 25)
        for target in targets:
            with self.subTest(expr=target["expr"]):
                self.assertEqual(target["datasource"]["uid"], "${datasource}")
                self.assertTrue(promql_metric_names(target["expr"]))
                used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
                self.assertLessEqual(used, variables)

    def test_the_issue_s_panels_are_there(self):
        exprs = " ".join(t["expr"] for p in self.panels for t in p.get("targets", []))
        for metric in ("infusion_generation_tokens_total", "infusion_time_to_first_token_seconds",
                       "infusion_time_to_image_seconds", "infusion_requests_waiting",
                       "infusion_kv_cache_usage_ratio", "infusion_step_tokens_total"):
            self.assertIn(metric, exprs)
        (composition,) = [p for p in self.panels if p["title"].startswith("Batch composition")]
        self.assertIn("sum by (span)", composition["targets"][0]["expr"])


class KubernetesTest(unittest.TestCase):

    def setUp(self):
        self.objects = layout.k8s_objects(SOURCE_DIR)
        self.deployment = self.objects[("Deployment", "infusion-server")]
        self.pod = self.deployment["spec"]["template"]
        (self.container,) = self.pod["spec"]["containers"]
        self.args = layout.flags(self.container["args"])

    def test_every_object_is_named_and_typed(self):
        self.assertEqual(
            sorted(self.objects),
            [("ConfigMap", "adapter-config"), ("Deployment", "infusion-server"),
             ("HorizontalPodAutoscaler", "infusion-server"), ("Job", "infusion-train"),
             ("PersistentVolumeClaim", "infusion-models"),
             ("PersistentVolumeClaim", "infusion-train-cache"), ("PodDisruptionBudget", "infusion-server"),
             ("PodMonitor", "infusion-server"), ("Service", "infusion-headless"),
             ("Service", "infusion-train")])
        for obj in self.objects.values():
            self.assertIn("apiVersion", obj)

    def test_kustomization(self):
        kustomization = layout.load_yaml(path("deploy/k8s/kustomization.yaml"))
        for resource in kustomization["resources"]:
            self.assertTrue(os.path.isfile(path(f"deploy/k8s/{resource}")), resource)
        (image,) = kustomization["images"]
        self.assertEqual(image["name"], self.container["image"])
        # The training Job is applied on its own, so it names the pushed image in full.
        (trainer,) = self.objects[("Job", "infusion-train")]["spec"]["template"]["spec"]["containers"]
        self.assertEqual(trainer["image"], f"{image['newName']}:{image['newTag']}")

    def test_selectors_match_the_server_pods(self):
        labels = self.pod["metadata"]["labels"]
        selectors = {
            "Deployment": self.deployment["spec"]["selector"]["matchLabels"],
            "Service": self.objects[("Service", "infusion-headless")]["spec"]["selector"],
            "PodDisruptionBudget":
                self.objects[("PodDisruptionBudget", "infusion-server")]["spec"]["selector"]["matchLabels"],
            "PodMonitor": self.objects[("PodMonitor", "infusion-server")]["spec"]["selector"]["matchLabels"],
        }
        for kind, selector in selectors.items():
            with self.subTest(kind=kind):
                self.assertTrue(selector)
                self.assertLessEqual(selector.items(), labels.items())

    def test_ports_and_probes(self):
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(ports, {"grpc": int(self.args["port"]), "http": int(self.args["http_port"]),
                                 "metrics": int(self.args["metrics_port"])})
        service = self.objects[("Service", "infusion-headless")]["spec"]
        self.assertEqual(service["clusterIP"], "None")
        (service_port,) = service["ports"]
        self.assertEqual((service_port["port"], service_port["targetPort"]), (ports["grpc"], "grpc"))
        # Startup and readiness on /ready (warmed up, not draining), liveness on /health (the
        # process answers): routes of the HTTP port (server/http_server.cc).
        paths = {"startupProbe": "/ready", "readinessProbe": "/ready", "livenessProbe": "/health"}
        with open(path("server/http_server.cc")) as f:
            routes = set(re.findall(r's\.Get\("(/[a-z]+)"', f.read()))
        for probe, expected in paths.items():
            with self.subTest(probe=probe):
                self.assertEqual(self.container[probe]["httpGet"], {"path": expected, "port": "http"})
                self.assertIn(expected, routes)
        # The image's default model is where the manifest points.
        self.assertEqual(self.args["model"], "/usr/share/infusion/models/shapes")
        (endpoint,) = self.objects[("PodMonitor", "infusion-server")]["spec"]["podMetricsEndpoints"]
        self.assertEqual(endpoint["port"], "metrics")

    def test_termination_outlasts_the_drain(self):
        spec = self.pod["spec"]
        pre_stop = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop[0], "sleep")
        shutdown = float(pre_stop[1]) + layout.parse_seconds(self.args["drain_grace"])
        self.assertGreater(spec["terminationGracePeriodSeconds"], shutdown)
        liveness = self.container["livenessProbe"]
        self.assertGreater(liveness["periodSeconds"] * liveness["failureThreshold"], shutdown)

    def test_threads_match_the_cpu_request(self):
        resources = self.container["resources"]
        self.assertEqual(resources["requests"], resources["limits"])  # Guaranteed QoS
        env = {e["name"]: e["value"] for e in self.container["env"]}
        self.assertEqual(self.args["threads"], resources["requests"]["cpu"])
        self.assertEqual(env["OMP_NUM_THREADS"], resources["requests"]["cpu"])

    def test_hpa_scales_the_deployment_on_the_adapter_metric(self):
        hpa = self.objects[("HorizontalPodAutoscaler", "infusion-server")]["spec"]
        self.assertEqual(hpa["scaleTargetRef"]["kind"], "Deployment")
        self.assertEqual(hpa["scaleTargetRef"]["name"], self.deployment["metadata"]["name"])
        self.assertGreaterEqual(hpa["minReplicas"], 2)  # so that the PDB can let one go
        (metric,) = hpa["metrics"]
        (rule,) = adapter_rules(self.objects)
        self.assertEqual(metric["pods"]["metric"]["name"], rule["name"]["as"])
        self.assertEqual(promql_metric_names(rule["seriesQuery"]), {"infusion_requests_waiting"})
        self.assertEqual(rule["resources"]["overrides"]["pod"], {"resource": "pod"})

    def test_training_job_rendezvous(self):
        job = self.objects[("Job", "infusion-train")]
        spec, pod = job["spec"], job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        value = lambda name: env[name]["value"]  # noqa: E731
        self.assertEqual(spec["completionMode"], "Indexed")
        self.assertEqual(spec["completions"], spec["parallelism"])
        self.assertEqual(str(spec["completions"]), value("WORLD_SIZE"))
        self.assertEqual(env["RANK"]["valueFrom"]["fieldRef"]["fieldPath"],
                         "metadata.annotations['batch.kubernetes.io/job-completion-index']")
        service = self.objects[("Service", pod["subdomain"])]["spec"]
        self.assertEqual(value("MASTER_ADDR"), f"{job['metadata']['name']}-0.{pod['subdomain']}")
        self.assertEqual(service["selector"], {"job-name": job["metadata"]["name"]})
        self.assertEqual(service["clusterIP"], "None")
        self.assertEqual(service["ports"][0]["port"], int(value("MASTER_PORT")))
        # The image's WORKDIR holds a copy of configs/ (deploy/docker/Dockerfile).
        self.assertTrue(os.path.isfile(path(value("CONFIG"))), value("CONFIG"))
        self.assertEqual(value("THREADS"), container["resources"]["requests"]["cpu"])
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        self.assertTrue(value("OUT").startswith(tuple(m + "/" for m in mounts)))


def adapter_rules(objects):
    """The Prometheus adapter's rules, a YAML document inside its ConfigMap."""
    return yaml.safe_load(objects[("ConfigMap", "adapter-config")]["data"]["config.yaml"])["rules"]


def image_server_flags():
    instructions = layout.dockerfile_instructions(path("deploy/docker/Dockerfile"))
    (entrypoint,) = [i for i in instructions if i.keyword == "ENTRYPOINT"]
    return layout.flags(entrypoint.exec_form())


def main():
    global SOURCE_DIR
    SOURCE_DIR = sys.argv[1]
    unittest.main(argv=sys.argv[:1], verbosity=2)


if __name__ == "__main__":
    main()
