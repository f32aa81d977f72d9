#include "server/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace infusion::server {
namespace {

std::optional<std::string> ReadAll(const char* path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The boot time in seconds since the epoch: /proc/stat's "btime" line.
std::optional<double> BootTime() {
  const std::optional<std::string> stat = ReadAll("/proc/stat");
  if (!stat.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    double seconds = 0;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtod(line, &seconds)) return seconds;
  }
  return std::nullopt;
}

std::optional<double> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own descriptor, open while it is read
}

prometheus::MetricFamily One(const char* name, const char* help, prometheus::MetricType type,
                             double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return family;
}

}  // namespace

std::optional<ProcessStat> ParseProcStat(const std::string& text, long ticks_per_second,
                                         long page_bytes) {
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || ticks_per_second <= 0 || page_bytes <= 0) return std::nullopt;
  // Fields from 3 (state) on; utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(text).substr(paren + 1), ' ', absl::SkipWhitespace());
  if (fields.size() < 22) return std::nullopt;
  auto field = [&fields](int number, double* value) {
    return absl::SimpleAtod(fields[number - 3], value);
  };
  double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
  if (!field(14, &utime) || !field(15, &stime) || !field(22, &start) || !field(23, &vsize) ||
      !field(24, &rss)) {
    return std::nullopt;
  }
  ProcessStat stat;
  stat.cpu_seconds = (utime + stime) / ticks_per_second;
  stat.start_seconds = start / ticks_per_second;
  stat.virtual_bytes = vsize;
  stat.resident_bytes = rss * page_bytes;
  return stat;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const std::optional<std::string> text = ReadAll("/proc/self/stat");
  const std::optional<ProcessStat> stat =
      text.has_value() ? ParseProcStat(*text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE))
                       : std::nullopt;
  if (stat.has_value()) {
    families.push_back(One("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.", MetricType::Counter,
                           stat->cpu_seconds));
    families.push_back(One("process_resident_memory_bytes", "Resident memory size in bytes.",
                           MetricType::Gauge, stat->resident_bytes));
    families.push_back(One("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::Gauge, stat->virtual_bytes));
    static const std::optional<double> boot = BootTime();
    if (boot.has_value()) {
      families.push_back(One("process_start_time_seconds",
                             "Start time of the process since unix epoch in seconds.",
                             MetricType::Gauge, *boot + stat->start_seconds));
    }
  }
  if (const std::optional<double> fds = OpenFds()) {
    families.push_back(
        One("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, *fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    families.push_back(One("process_max_fds", "Maximum number of open file descriptors.",
                           MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace infusion::server
