// infusion-bench's outputs: a text table, JSON, and the ratios between modes.
#ifndef INFUSION_CLIENTS_BENCH_REPORT_H_
#define INFUSION_CLIENTS_BENCH_REPORT_H_

#include <string>
#include <vector>

#include "clients/bench/engine_bench.h"
#include "clients/bench/load_generator.h"

namespace infusion::bench {

std::string FormatTable(const std::vector<LoadSummary>& rows);
std::string ToJson(const std::vector<LoadSummary>& rows);  // a list, one object per row
std::string FormatEngineTable(const EngineBenchResult& result);
std::string EngineToJson(const EngineBenchResult& result);

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_REPORT_H_
