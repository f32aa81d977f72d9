// The calls of `infusion-bench --chaos`: what a hostile mix of clients sends over both front ends
// (gRPC through the client library, HTTP through cpp-httplib), and the record each call leaves.
//
// Every call is one of these plans: a normal request; one the client cancels mid-flight; one
// with a deadline too short to meet; a malformed one (a catalogue of bad images, invalid UTF-8,
// out-of-range parameters, oversized prompts and bodies, bad JSON, bad multipart, unparsable
// protobuf); one with fields the server does not know; a streaming client that stalls or walks
// away; or one of a burst sent beyond the queue. Each record lists the outcomes that are right
// for its plan, and what the stream itself did wrong (two finish events, no [DONE], ...).
#ifndef INFUSION_CLIENTS_BENCH_CHAOS_CALLS_H_
#define INFUSION_CLIENTS_BENCH_CHAOS_CALLS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/client_lib/infusion_client.h"

namespace infusion::bench {

enum class FrontEnd { kGrpc, kHttp };
enum class Plan { kNormal, kCancel, kDeadline, kMalformed, kUnknownFields, kStall, kAbandon, kBurst };
const char* FrontEndName(FrontEnd front_end);
const char* PlanName(Plan plan);

// Seconds since creation, less the time this process was stopped (SIGSTOP: the shared machine's
// /work/tools/quiet.sh stops other jobs, and the server beside this client, for minutes): a call
// frozen with its server is not hung, and a latency is the time the call ran.
class ActiveClock {
 public:
  ActiveClock();
  ~ActiveClock();
  double Now() const;
  double paused_s() const;

 private:
  double Elapsed() const;  // wall seconds since creation

  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  mutable std::mutex mu_;
  double paused_ = 0;     // guarded by mu_
  double last_tick_ = 0;  // guarded by mu_: Elapsed() at the ticker's last tick
  std::atomic<bool> stop_{false};
  std::thread ticker_;  // last: it uses the members above
};

struct CallRecord {
  int64_t id = 0;
  FrontEnd front_end = FrontEnd::kGrpc;
  Plan plan = Plan::kNormal;
  std::string op;       // "chat", "t2i", "caption", "edit", "completions", "raw"
  std::string variant;  // what a malformed call gets wrong, or how the plan is carried out
  // Outcomes that are right for this call, e.g. {"INVALID_ARGUMENT"} or {"HTTP 200", "HTTP 429"}.
  std::vector<std::string> expected;
  double start = 0;          // seconds on the run's clock
  double end = -1;           // < 0 while the call runs
  double first_event = -1;   // the first streamed event (gRPC) or the HTTP status line
  // "OK", a gRPC code name ("CANCELLED", ...), "HTTP 400", "HTTP 200 error event",
  // "client closed" (the client left a stream on purpose), "transport: ERROR".
  std::string outcome;
  std::string detail;          // the error message, cut short
  std::string protocol_error;  // what the stream did wrong; empty when nothing
};

// Every call's record, shared by the client threads, the watchdog and the report.
class CallTracker {
 public:
  explicit CallTracker(const ActiveClock* clock) : clock_(clock) {}
  int64_t Begin(CallRecord record);  // stamps start; returns the id
  void FirstEvent(int64_t id);       // the first time only
  void Finish(int64_t id, const std::string& outcome, const std::string& detail,
              const std::string& protocol_error);
  std::vector<CallRecord> Snapshot() const;
  // Calls started and not finished, and the oldest one's age in seconds.
  int InFlight(double* oldest_age = nullptr) const;
  const ActiveClock& clock() const { return *clock_; }

 private:
  const ActiveClock* clock_;
  mutable std::mutex mu_;
  std::map<int64_t, CallRecord> calls_;
  int64_t next_id_ = 1;
};

// How often each plan is drawn (weights, any scale).
struct ChaosMix {
  double normal = 55, cancel = 10, deadline = 5, malformed = 20, unknown_fields = 3, stall = 4,
         abandon = 3;
};

struct CallSpec {
  FrontEnd front_end = FrontEnd::kGrpc;
  Plan plan = Plan::kNormal;
  int index = 0;  // which op (or which malformed input) of the plan's catalogue
};

class ChaosCalls {
 public:
  // `call_timeout_s`: the watchdog's limit; HTTP reads give up a little after it, so that no
  // client thread waits forever on a hung call.
  static absl::StatusOr<std::unique_ptr<ChaosCalls>> Create(const std::string& grpc_address,
                                                            const std::string& http_url,
                                                            const std::string& api_key,
                                                            double call_timeout_s,
                                                            CallTracker* tracker);
  ~ChaosCalls();

  CallSpec Pick(const ChaosMix& mix, std::mt19937_64& rng) const;
  // A burst call: a small streamed-or-not image request over `front_end`.
  static CallSpec Burst(FrontEnd front_end) { return {front_end, Plan::kBurst, 0}; }
  // Runs one call to its end, tracked by the tracker from start to finish.
  void Run(const CallSpec& spec, std::mt19937_64& rng);

  int num_malformed() const;
  // Malformed input number `i` of the catalogue.
  CallSpec MalformedSpec(int i) const;
  // Names of the malformed inputs, "grpc/..." and "http/..." (for the report).
  std::vector<std::string> MalformedNames() const;

 private:
  struct Malformed;
  ChaosCalls(std::unique_ptr<client::InfusionClient> client, std::string http_url,
             std::string api_key, double call_timeout_s, CallTracker* tracker);
  void RunGrpc(const CallSpec& spec, std::mt19937_64& rng);
  void RunHttp(const CallSpec& spec, std::mt19937_64& rng);

  std::unique_ptr<client::InfusionClient> client_;
  const std::string http_url_;
  const std::string api_key_;
  const double call_timeout_s_;
  CallTracker* tracker_;
  std::string png_;        // a valid 48x40 PNG (resized by the server to the model's size)
  std::vector<Malformed> malformed_;
};

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_CHAOS_CALLS_H_
