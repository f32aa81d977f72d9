// A one-line progress bar, redrawn in place: "[##########..........]  10/20".
#ifndef INFUSION_CLIENTS_CLI_PROGRESS_BAR_H_
#define INFUSION_CLIENTS_CLI_PROGRESS_BAR_H_

#include <cstdio>

namespace infusion::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out, int width = 30) : out_(out), width_(width) {}

  void Update(int done, int total);
  // Ends the bar's line, if one is drawn.
  void Done();

 private:
  std::FILE* const out_;
  const int width_;
  bool drawn_ = false;
};

}  // namespace infusion::cli

#endif  // INFUSION_CLIENTS_CLI_PROGRESS_BAR_H_
