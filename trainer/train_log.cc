#include "trainer/train_log.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace infusion::trainer {

using Json = nlohmann::json;

absl::StatusOr<std::unique_ptr<TrainLog>> TrainLog::Open(const std::string& path,
                                                         int64_t resume_step) {
  std::string kept;
  if (std::ifstream in(path); in) {
    for (std::string line; std::getline(in, line);) {
      const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("step", int64_t{0}) <= resume_step) kept += line + "\n";
    }
  }
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  std::fwrite(kept.data(), 1, kept.size(), file);
  std::fflush(file);
  return std::unique_ptr<TrainLog>(new TrainLog(file));
}

TrainLog::~TrainLog() { std::fclose(file_); }

void TrainLog::Write(const StepMetrics& m) {
  // nlohmann writes doubles with the shortest text that reads back to the same value, so the
  // log compares exactly between runs.
  const Json j = {{"step", m.step},
                  {"loss", m.loss},
                  {"loss_lm", m.loss_lm},
                  {"loss_diffusion", m.loss_diffusion},
                  {"lr", m.lr},
                  {"grad_norm", m.grad_norm},
                  {"tokens_per_s", m.tokens_per_s},
                  {"elapsed_s", m.elapsed_s}};
  const std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

ProgressLine::ProgressLine(int64_t total_steps, FILE* out)
    : total_steps_(total_steps), out_(out), terminal_(isatty(fileno(out)) != 0) {}

ProgressLine::~ProgressLine() {
  if (line_open_) std::fputc('\n', out_);
}

static std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

void ProgressLine::Show(const StepMetrics& m, double seconds_per_step) {
  const double rate = m.tokens_per_s;
  const std::string speed =
      rate >= 1000 ? absl::StrFormat("%.1fk", rate / 1000) : absl::StrFormat("%.0f", rate);
  const std::string text = absl::StrFormat(
      "step %d/%d | loss %.4f (lm %.4f, diffusion %.4f) | lr %.2e | %s tok/s | ETA %s", m.step,
      total_steps_, m.loss, m.loss_lm, m.loss_diffusion, m.lr, speed,
      Duration(seconds_per_step * static_cast<double>(total_steps_ - m.step)));
  if (terminal_) {
    std::fprintf(out_, "\r\033[K%s", text.c_str());
    line_open_ = true;
  } else {
    std::fprintf(out_, "%s\n", text.c_str());
  }
  std::fflush(out_);
}

}  // namespace infusion::trainer
