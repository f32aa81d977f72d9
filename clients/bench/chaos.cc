#include "clients/bench/chaos.h"

#include <google/protobuf/stubs/logging.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "clients/bench/chaos_server.h"

namespace infusion::bench {
namespace {

// The started server's limits: a small queue, so that bursts overflow it, and a small message
// limit, so that oversized bodies are cheap to send (the malformed catalogue relies on both).
const std::vector<std::string> kServerLimits = {
    "--max_queued=8", "--max_running=8", "--max_message_mb=2", "--max_image_bytes=1048576"};

// The client threads of one phase. Threads are detached and hold this by shared_ptr: a call that
// hangs must not hang the run, which reports it instead.
struct Load {
  std::atomic<bool> stop{false};
  std::atomic<bool> draining{false};  // SIGTERM sent: refusals come fast, so pace the clients
  std::atomic<int> active{0};
};

std::shared_ptr<Load> StartLoad(ChaosCalls* calls, const ChaosOptions& o, const ChaosMix& mix,
                                bool bursts, bool catalogue, uint64_t seed) {
  auto load = std::make_shared<Load>();
  auto spawn = [&load](std::function<void()> body) {
    load->active.fetch_add(1);
    std::thread([load, body = std::move(body)] {
      body();
      load->active.fetch_sub(1);
    }).detach();
  };
  for (int i = 0; i < o.clients; ++i) {
    spawn([calls, load, mix, seed, i] {
      std::mt19937_64 rng(seed * 1000003 + i);
      while (!load->stop.load()) {
        calls->Run(calls->Pick(mix, rng), rng);
        if (load->draining.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }
  if (catalogue) {  // every malformed input once, so that each run covers the whole catalogue
    spawn([calls, load, seed] {
      std::mt19937_64 rng(seed);
      for (int i = 0; i < calls->num_malformed() && !load->stop.load(); ++i) {
        calls->Run(calls->MalformedSpec(i), rng);
      }
    });
  }
  if (bursts && o.burst_size > 0 && o.burst_every_s > 0) {
    const double every = o.burst_every_s;
    const int size = o.burst_size;
    spawn([calls, load, every, size, seed] {
      double wait = every / 2;
      while (true) {
        for (double t = 0; t < wait; t += 0.05) {
          if (load->stop.load()) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        wait = every;
        std::vector<std::thread> burst;
        for (int i = 0; i < size; ++i) {
          burst.emplace_back([calls, i, seed] {
            std::mt19937_64 rng(seed + 7919 * i);
            calls->Run(ChaosCalls::Burst(i % 2 ? FrontEnd::kHttp : FrontEnd::kGrpc), rng);
          });
        }
        for (std::thread& t : burst) t.join();
      }
    });
  }
  return load;
}

// Stops `load` and waits for its threads; false when some are still in a call after `timeout_s`.
bool StopLoad(Load& load, double timeout_s, const ActiveClock& clock) {
  load.stop = true;
  const double end = clock.Now() + timeout_s;
  while (load.active.load() > 0) {
    if (clock.Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

struct Gauges {
  bool ok = false;
  double running = -1, waiting = -1, kv_usage = -1;
  double seconds = 0;  // until all were 0
  std::string error;
};

// Polls /metrics until no request runs or waits and no KV block is held by a request.
Gauges AwaitIdle(const ChaosServer& server, double timeout_s, const ActiveClock& clock) {
  Gauges g;
  const double start = clock.Now();
  while (true) {
    absl::StatusOr<std::string> text = server.Metrics();
    if (text.ok()) {
      absl::StatusOr<double> running = SumMetric(*text, "infusion_requests_running");
      absl::StatusOr<double> waiting = SumMetric(*text, "infusion_requests_waiting");
      absl::StatusOr<double> kv = SumMetric(*text, "infusion_kv_cache_usage_ratio");
      if (running.ok() && waiting.ok() && kv.ok()) {
        g.running = *running;
        g.waiting = *waiting;
        g.kv_usage = *kv;
        g.error.clear();
        if (g.running == 0 && g.waiting == 0 && g.kv_usage == 0) {
          g.ok = true;
          break;
        }
      } else {
        g.error = "a load gauge is missing from /metrics";
      }
    } else {
      g.error = std::string(text.status().message());
    }
    if (clock.Now() - start > timeout_s) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  g.seconds = clock.Now() - start;
  return g;
}

// Resident memory of the idle server: the median of three samples a second apart, after a pause
// for the allocator to hand back what the last calls freed (the server trims its heap every
// --malloc_trim_every, 10 s by default).
int64_t IdleRss(const ChaosServer& server) {
  std::fprintf(stderr, "chaos: load drained; sampling the idle server's memory in 12 s\n");
  absl::SleepFor(absl::Seconds(12));
  std::vector<int64_t> samples;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) absl::SleepFor(absl::Seconds(1));
    absl::StatusOr<int64_t> rss = server.RssKib();
    samples.push_back(rss.ok() ? *rss : -1);
  }
  std::sort(samples.begin(), samples.end());
  return samples[1];
}

double Quantile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

bool Allowed(const CallRecord& r, const std::string& outcome) {
  return std::find(r.expected.begin(), r.expected.end(), outcome) != r.expected.end();
}

bool ServerError(const std::string& outcome) {
  return outcome == "INTERNAL" || outcome == "UNKNOWN" || outcome == "DATA_LOSS" ||
         (absl::StartsWith(outcome, "HTTP 5") && outcome != "HTTP 503");
}

// What went on at the SIGTERM: calls of the last phase and when the signal went out.
struct Drain {
  double phase_start = -1;
  double sigterm = -1;
};

// "" when `r` ended as it should; else what is wrong.
std::string Judge(const CallRecord& r, double call_timeout_s, const Drain& drain) {
  if (r.end < 0) return "no outcome (hung)";
  if (r.end - r.start > call_timeout_s) {
    return absl::StrFormat("took %.0f s, past the watchdog's %.0f s", r.end - r.start,
                           call_timeout_s);
  }
  if (!r.protocol_error.empty()) return "stream:" + r.protocol_error;
  if (Allowed(r, r.outcome)) return "";
  if (drain.sigterm >= 0 && r.start >= drain.phase_start) {
    const bool after = r.start >= drain.sigterm;
    const bool accepted = r.first_event >= 0 && r.first_event < drain.sigterm;
    if (after && (r.outcome == "UNAVAILABLE" || r.outcome == "HTTP 503" ||
                  absl::StartsWith(r.outcome, "transport: "))) {
      return "";  // refused by the draining server, or by no server at all
    }
    if (!after && !accepted &&
        ((r.outcome == "UNAVAILABLE" && absl::StrContains(r.detail, "shutting down")) ||
         r.outcome == "HTTP 503")) {
      return "";  // reached the server after its gate closed
    }
    return absl::StrCat(accepted ? "accepted before SIGTERM, then " : "", "ended ", r.outcome,
                        " (", r.detail, ")");
  }
  return absl::StrCat("ended ", r.outcome, ", expected ", absl::StrJoin(r.expected, " | "),
                      r.detail.empty() ? "" : absl::StrCat(" (", r.detail, ")"));
}

struct Check {
  std::string name;
  bool pass;
  std::string detail;
};

}  // namespace

int RunChaos(const ChaosOptions& o) {
  signal(SIGPIPE, SIG_IGN);
  // Invalid UTF-8 in proto3 strings is sent on purpose; protobuf logs each one it serializes.
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int,
                                     const std::string&) {});
  const bool attach = o.attach_pid != 0;
  std::unique_ptr<ChaosServer> server;
  {
    absl::StatusOr<std::unique_ptr<ChaosServer>> s;
    if (attach) {
      s = ChaosServer::Attach(o.attach_grpc, o.attach_http, o.attach_metrics, o.attach_pid);
    } else {
      std::vector<std::string> flags = {"--model=" + o.model_dir,
                                        absl::StrFormat("--drain_grace=%gs", o.drain_grace_s)};
      if (o.server_threads > 0) flags.push_back(absl::StrCat("--threads=", o.server_threads));
      flags.insert(flags.end(), kServerLimits.begin(), kServerLimits.end());
      flags.insert(flags.end(), o.extra_server_flags.begin(), o.extra_server_flags.end());
      const std::string log = o.server_log.empty()
                                  ? absl::StrCat("/tmp/infusion-chaos-server-", getpid(), ".log")
                                  : o.server_log;
      std::fprintf(stderr, "chaos: starting %s %s (log %s)\n", o.server_binary.c_str(),
                   absl::StrJoin(flags, " ").c_str(), log.c_str());
      s = ChaosServer::Start(o.server_binary, flags, log);
    }
    if (!s.ok()) {
      std::fprintf(stderr, "infusion-bench --chaos: %s\n", s.status().ToString().c_str());
      return 2;
    }
    server = *std::move(s);
  }
  if (absl::Status ready = server->AwaitReady(absl::Minutes(5)); !ready.ok()) {
    std::fprintf(stderr, "infusion-bench --chaos: %s\n", ready.ToString().c_str());
    return 2;
  }
  const pid_t pid = server->pid();
  const absl::StatusOr<uint64_t> start_ticks = server->StartTicks();
  ActiveClock clock;
  CallTracker tracker(&clock);
  absl::StatusOr<std::unique_ptr<ChaosCalls>> made = ChaosCalls::Create(
      server->grpc_address(), server->http_url(), o.api_key, o.call_timeout_s, &tracker);
  if (!made.ok()) {
    std::fprintf(stderr, "infusion-bench --chaos: %s\n", made.status().ToString().c_str());
    return 2;
  }
  ChaosCalls* calls = made->release();  // outlives any client thread still in a hung call
  std::fprintf(stderr, "chaos: server pid %d at %s and %s; %d malformed inputs\n", pid,
               server->grpc_address().c_str(), server->http_url().c_str(),
               calls->num_malformed());

  // The process must be the same one, alive, whenever we look.
  std::string identity_error;
  int64_t peak_rss = 0, last_rss = 0;
  auto look = [&] {
    if (!server->Alive()) {
      if (identity_error.empty()) identity_error = "the server process is gone";
      return;
    }
    const absl::StatusOr<uint64_t> ticks = server->StartTicks();
    if (!start_ticks.ok() || !ticks.ok() || *ticks != *start_ticks) {
      if (identity_error.empty()) identity_error = "the PID names another process";
    }
    if (const absl::StatusOr<int64_t> rss = server->RssKib(); rss.ok()) {
      last_rss = *rss;
      peak_rss = std::max(peak_rss, *rss);
    }
  };
  // Runs a phase of `seconds`, looking at the server every second and reporting every 10.
  auto phase = [&](const char* name, double seconds, bool catalogue) -> bool {
    std::fprintf(stderr, "chaos: %s, %.0f s\n", name, seconds);
    std::shared_ptr<Load> load =
        StartLoad(calls, o, o.mix, /*bursts=*/true, catalogue,
                  o.seed + static_cast<uint64_t>(clock.Now() * 1000));
    const double end = clock.Now() + seconds;
    double next_report = clock.Now() + 10;
    while (clock.Now() < end) {
      absl::SleepFor(absl::Seconds(1));
      look();
      if (clock.Now() >= next_report) {
        next_report += 10;
        double oldest = 0;
        const int in_flight = tracker.InFlight(&oldest);
        std::fprintf(stderr, "chaos: t=%.0f s calls %zu in flight %d (oldest %.1f s) rss %lld KiB\n",
                     clock.Now(), tracker.Snapshot().size(), in_flight, oldest,
                     static_cast<long long>(last_rss));
      }
    }
    return StopLoad(*load, o.call_timeout_s + 60, clock);
  };

  std::vector<Check> checks;
  bool all_returned = phase("warm-up", o.warmup_s, /*catalogue=*/true);
  const Gauges warm_gauges = AwaitIdle(*server, o.quiesce_timeout_s, clock);
  const int64_t warm_rss = IdleRss(*server);
  look();
  std::fprintf(stderr, "chaos: idle after warm-up: rss %lld KiB\n",
               static_cast<long long>(warm_rss));
  all_returned = all_returned && phase("main", o.duration_s, /*catalogue=*/false);
  const Gauges end_gauges = AwaitIdle(*server, o.quiesce_timeout_s, clock);
  const int64_t end_rss = IdleRss(*server);
  look();
  std::fprintf(stderr, "chaos: idle at the end: rss %lld KiB\n", static_cast<long long>(end_rss));
  std::string server_counts;
  double server_errors = -1;
  if (absl::StatusOr<std::string> text = server->Metrics(); text.ok()) {
    server_errors = 0;
    for (const char* code : {"OK", "CANCELLED", "DEADLINE_EXCEEDED", "INVALID_ARGUMENT",
                             "RESOURCE_EXHAUSTED", "NOT_FOUND", "UNAVAILABLE", "INTERNAL",
                             "UNKNOWN", "DATA_LOSS"}) {
      const absl::StatusOr<double> n =
          SumMetric(*text, "infusion_requests_total", {absl::StrCat("code=\"", code, "\"")});
      if (!n.ok()) continue;
      absl::StrAppend(&server_counts, server_counts.empty() ? "" : ", ", code, " ", *n);
      const std::string c = code;
      if (c == "INTERNAL" || c == "UNKNOWN" || c == "DATA_LOSS") server_errors += *n;
    }
  }

  // SIGTERM under load.
  Drain drain;
  int accepted_at_sigterm = 0;
  std::string exit_detail = "not run (--chaos_sigterm=false)";
  bool exit_ok = true;
  if (o.sigterm && all_returned) {
    std::fprintf(stderr, "chaos: SIGTERM under load\n");
    drain.phase_start = clock.Now();
    ChaosMix mix;  // calls that run: the drain is about work in flight
    mix.malformed = 5;
    mix.deadline = 0;
    mix.abandon = 0;
    std::shared_ptr<Load> load = StartLoad(calls, o, mix, /*bursts=*/false, false, o.seed + 99);
    const int want = std::max(1, std::min(3, o.clients / 2));
    const double wait_end = clock.Now() + 120;
    while (clock.Now() < wait_end) {
      int accepted = 0;
      for (const CallRecord& r : tracker.Snapshot()) {
        if (r.start >= drain.phase_start && r.end < 0 && r.first_event >= 0) ++accepted;
      }
      if (accepted >= want) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    drain.sigterm = clock.Now();
    server->Signal(SIGTERM);
    load->draining = true;
    for (const CallRecord& r : tracker.Snapshot()) {
      if (r.start >= drain.phase_start && r.first_event >= 0 && r.first_event < drain.sigterm &&
          (r.end < 0 || r.end > drain.sigterm)) {
        ++accepted_at_sigterm;
      }
    }
    // Waits for the server's exit, on active time.
    auto await_exit = [&](double timeout_s) -> absl::StatusOr<int> {
      const double end = clock.Now() + timeout_s;
      while (true) {
        absl::StatusOr<int> code = server->Wait(absl::Milliseconds(100));
        if (code.ok() || clock.Now() > end) return code;
      }
    };
    if (attach) {
      absl::StatusOr<int> code = await_exit(o.call_timeout_s + 60);
      exit_ok = code.ok();
      exit_detail = code.ok() ? "the process ended (attached: its exit code is not ours to read)"
                              : "still running";
    } else {
      absl::StatusOr<int> code = await_exit(o.drain_grace_s + 120);
      exit_ok = code.ok() && *code == 0;
      exit_detail = code.ok() ? absl::StrCat("exit code ", *code) : "still running";
    }
    all_returned = StopLoad(*load, o.call_timeout_s + 60, clock) && all_returned;
  }

  // Judge every call.
  const std::vector<CallRecord> records = tracker.Snapshot();
  std::map<std::string, int> by_outcome, by_plan, by_op, wrong_by_plan;
  std::map<std::string, std::vector<double>> latency;  // normal calls that succeeded, by op
  std::vector<std::string> violations;
  int hung = 0, wrong = 0, server_error_calls = 0, protocol = 0, malformed = 0,
      malformed_wrong = 0, queue_full = 0, burst_calls = 0, drained = 0, drained_wrong = 0;
  for (const CallRecord& r : records) {
    const std::string key = absl::StrCat(FrontEndName(r.front_end), "/", PlanName(r.plan));
    ++by_plan[key];
    ++by_op[absl::StrCat(FrontEndName(r.front_end), "/", r.op)];
    ++by_outcome[r.end < 0 ? "(running)" : r.outcome];
    if (r.plan == Plan::kMalformed) ++malformed;
    if (r.plan == Plan::kBurst) ++burst_calls;
    if (r.plan == Plan::kBurst && (r.outcome == "RESOURCE_EXHAUSTED" || r.outcome == "HTTP 429")) {
      ++queue_full;
    }
    if (ServerError(r.outcome)) ++server_error_calls;
    const bool accepted_at_term = drain.sigterm >= 0 && r.start >= drain.phase_start &&
                                  r.first_event >= 0 && r.first_event < drain.sigterm &&
                                  (r.end < 0 || r.end > drain.sigterm);
    const std::string v = Judge(r, o.call_timeout_s, drain);
    if (accepted_at_term) ++(v.empty() ? drained : drained_wrong);
    if (v.empty()) {
      if ((r.plan == Plan::kNormal || r.plan == Plan::kBurst) &&
          (r.outcome == "OK" || r.outcome == "HTTP 200")) {
        latency[absl::StrCat(FrontEndName(r.front_end), "/", r.op)].push_back(r.end - r.start);
      }
      continue;
    }
    if (r.end < 0 || r.end - r.start > o.call_timeout_s) ++hung;
    if (!r.protocol_error.empty()) ++protocol;
    ++wrong;
    ++wrong_by_plan[key];
    if (r.plan == Plan::kMalformed) ++malformed_wrong;
    if (violations.size() < 40) {
      violations.push_back(absl::StrFormat("#%d %s %s (%s) at %.1f s, for %.1f s: %s", r.id, key,
                                           r.op, r.variant, r.start,
                                           (r.end < 0 ? clock.Now() : r.end) - r.start, v));
    }
  }

  // The report.
  std::printf("infusion-bench --chaos: %zu calls in %.0f s (warm-up %.0f s, main %.0f s), "
              "%d client threads, bursts of %d every %.0f s\n",
              records.size(), clock.Now(), o.warmup_s, o.duration_s, o.clients, o.burst_size,
              o.burst_every_s);
  std::printf("server: pid %d, %s\n", pid, attach ? "attached" : o.server_binary.c_str());
  std::printf("times are active time: %.0f s more passed while this process was stopped "
              "(SIGSTOP) and is left out\n",
              clock.paused_s());
  std::printf("\ncalls by front end / plan:\n");
  for (const auto& [k, n] : by_plan) {
    std::printf("  %-22s %6d  (%d wrong)\n", k.c_str(), n, wrong_by_plan[k]);
  }
  std::printf("calls by front end / op:\n");
  for (const auto& [k, n] : by_op) std::printf("  %-22s %6d\n", k.c_str(), n);
  std::printf("outcomes:\n");
  for (const auto& [k, n] : by_outcome) std::printf("  %-22s %6d\n", k.c_str(), n);
  std::printf("latency of normal calls that succeeded, s (p50 / p90 / p99 / max, count):\n");
  for (const auto& [k, v] : latency) {
    std::printf("  %-22s %6.2f %6.2f %6.2f %6.2f  %zu\n", k.c_str(), Quantile(v, 0.5),
                Quantile(v, 0.9), Quantile(v, 0.99), Quantile(v, 1), v.size());
  }
  std::printf("server's infusion_requests_total by code: %s\n", server_counts.c_str());
  const double growth =
      warm_rss > 0 ? static_cast<double>(end_rss - warm_rss) / static_cast<double>(warm_rss) : 0;
  std::printf("resident memory (idle): after warm-up %lld KiB, at the end %lld KiB (%+.2f%%); "
              "peak under load %lld KiB\n",
              static_cast<long long>(warm_rss), static_cast<long long>(end_rss), 100 * growth,
              static_cast<long long>(peak_rss));
  std::printf("load gauges went to 0 in %.1f s after the warm-up and %.1f s after the main phase\n",
              warm_gauges.seconds, end_gauges.seconds);
  if (drain.sigterm >= 0) {
    std::printf("SIGTERM at %.1f s with %d accepted calls in flight: %d drained as planned, %d "
                "not; server: %s\n",
                drain.sigterm, accepted_at_sigterm, drained, drained_wrong, exit_detail.c_str());
  }
  if (!violations.empty()) {
    std::printf("\nwrong calls (first %zu of %d):\n", violations.size(), wrong);
    for (const std::string& v : violations) std::printf("  %s\n", v.c_str());
  }

  auto gauges_text = [](const Gauges& g) {
    return absl::StrFormat("running %g, waiting %g, kv usage %g%s", g.running, g.waiting,
                           g.kv_usage, g.error.empty() ? "" : " (" + g.error + ")");
  };
  checks.push_back({"every call ended with one outcome (0 lost, 0 hung)",
                    hung == 0 && all_returned,
                    absl::StrCat(hung, " hung", all_returned ? "" : ", client threads stuck")});
  checks.push_back({"every outcome is one its plan allows", wrong == 0,
                    absl::StrCat(wrong, " wrong of ", records.size())});
  checks.push_back({"malformed inputs got their error class", malformed_wrong == 0,
                    absl::StrCat(malformed - malformed_wrong, " of ", malformed, " right, ",
                                 calls->num_malformed(), " kinds")});
  checks.push_back({"no INTERNAL / UNKNOWN / 5xx (clients and server's counters)",
                    server_error_calls == 0 && server_errors == 0,
                    absl::StrCat(server_error_calls, " seen by clients, ", server_errors,
                                 " counted by the server")});
  checks.push_back({"streams well-formed (one finish, [DONE] or completed last)", protocol == 0,
                    absl::StrCat(protocol, " malformed streams")});
  checks.push_back({"bursts beyond the queue refused with RESOURCE_EXHAUSTED / 429",
                    burst_calls == 0 || queue_full > 0,
                    absl::StrCat(queue_full, " refused of ", burst_calls, " burst calls")});
  checks.push_back({"load gauges back to 0 after the warm-up", warm_gauges.ok,
                    gauges_text(warm_gauges)});
  checks.push_back({"load gauges back to 0 after the load (KV blocks held, running, waiting)",
                    end_gauges.ok, gauges_text(end_gauges)});
  checks.push_back({absl::StrFormat("resident memory grows <= %.0f%% after the warm-up",
                                    100 * o.rss_growth_limit),
                    warm_rss > 0 && end_rss > 0 && growth <= o.rss_growth_limit,
                    absl::StrFormat("%+.2f%%", 100 * growth)});
  checks.push_back({"the server process never restarted (same PID and start time, alive)",
                    identity_error.empty(), identity_error.empty() ? "pid " + std::to_string(pid)
                                                                   : identity_error});
  if (o.sigterm) {
    checks.push_back({"SIGTERM under load: accepted calls drained",
                      drain.sigterm >= 0 && accepted_at_sigterm > 0 && drained_wrong == 0,
                      absl::StrCat(accepted_at_sigterm, " accepted in flight, ", drained_wrong,
                                   " cut")});
    checks.push_back({"SIGTERM: the server exited 0", drain.sigterm >= 0 && exit_ok,
                      exit_detail});
  }
  std::printf("\nchecks:\n");
  bool pass = true;
  for (const Check& c : checks) {
    std::printf("  %s  %s: %s\n", c.pass ? "PASS" : "FAIL", c.name.c_str(), c.detail.c_str());
    pass = pass && c.pass;
  }
  std::printf("%s\n", pass ? "chaos: PASS" : "chaos: FAIL");
  std::fflush(stdout);
  if (!all_returned) {
    // Client threads are stuck in calls: leave without waiting for them or destroying what they
    // use. A server we started must not outlive us.
    if (server->started_here() && server->Alive()) server->Signal(SIGKILL);
    std::_Exit(1);
  }
  delete calls;
  return pass ? 0 : 1;
}

}  // namespace infusion::bench
