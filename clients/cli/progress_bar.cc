#include "clients/cli/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace infusion::cli {

ProgressBar::ProgressBar(std::FILE* out, int width)
    : out_(out), width_(width), enabled_(isatty(fileno(out)) == 1) {}

void ProgressBar::Update(int done, int total) {
  if (!enabled_ || total <= 0) return;
  done = std::clamp(done, 0, total);
  const int filled = done * width_ / total;
  const std::string bar = std::string(filled, '#') + std::string(width_ - filled, '.');
  std::fprintf(out_, "\r[%s] %*d/%d", bar.c_str(), static_cast<int>(std::to_string(total).size()),
               done, total);
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Done() {
  if (!drawn_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace infusion::cli
