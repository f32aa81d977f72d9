// The process metrics Prometheus' client libraries export by convention (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds), read from /proc/self at each scrape: prometheus-cpp has no process
// collector of its own. Linux only; a value that cannot be read is left out of the scrape.
#ifndef INFUSION_SERVER_PROCESS_COLLECTOR_H_
#define INFUSION_SERVER_PROCESS_COLLECTOR_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <optional>
#include <string>
#include <vector>

namespace infusion::server {

// What /proc/self/stat says of the process (proc(5)), in the units the metrics want.
struct ProcessStat {
  double cpu_seconds = 0;     // utime + stime
  double start_seconds = 0;   // since boot (starttime)
  double virtual_bytes = 0;   // vsize
  double resident_bytes = 0;  // rss pages x page size
};

// Parses the text of /proc/[pid]/stat; nullopt when it is malformed. The command name (field 2)
// may hold spaces and parentheses, so fields are counted from the last ')'.
std::optional<ProcessStat> ParseProcStat(const std::string& text, long ticks_per_second,
                                         long page_bytes);

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_PROCESS_COLLECTOR_H_
