// The files of one evaluation folder (infusion-eval --out_dir, e.g. docs/eval/<model>/):
//   results.json            one section per benchmark ("shapes", "emoji", "text"), each with the
//                           settings of the run that wrote it; a later run replaces only its own
//                           sections, so benchmarks can be run one at a time
//   report.md               rendered from results.json: the targets of issue 7, then each section
//   <section>_<grid>.png    the sample grids (sample_grid.h)
#ifndef INFUSION_CLIENTS_EVAL_REPORT_WRITER_H_
#define INFUSION_CLIENTS_EVAL_REPORT_WRITER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/eval/accuracy.h"
#include "clients/eval/sample_grid.h"

namespace infusion::eval {

class ReportWriter {
 public:
  // Creates `out_dir` if needed and reads its results.json, when there is one (InvalidArgument
  // when that file is not a JSON object).
  static absl::StatusOr<std::unique_ptr<ReportWriter>> Open(const std::string& out_dir);

  // Replaces section `name` with `results` plus {"run": run, "grids": {grid name: file}}, and
  // writes the grids.
  absl::Status SetSection(const std::string& name, Json results, const Json& run,
                          const std::vector<SampleGrid>& grids);

  // Writes results.json and report.md.
  absl::Status Write() const;

  const Json& results() const { return results_; }

 private:
  ReportWriter(std::string out_dir, Json results)
      : out_dir_(std::move(out_dir)), results_(std::move(results)) {}

  std::string out_dir_;
  Json results_;  // the whole of results.json
};

// report.md of a results.json. Sections it does not hold are left out, and so are their targets.
std::string RenderReport(const Json& results);

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_REPORT_WRITER_H_
