// A one-line progress bar, redrawn in place: "[##########..........]  10/20". Drawn only when
// `out` is a terminal: piped or logged output stays free of carriage returns.
#ifndef INFUSION_CLIENTS_CLI_PROGRESS_BAR_H_
#define INFUSION_CLIENTS_CLI_PROGRESS_BAR_H_

#include <cstdio>

namespace infusion::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out, int width = 30);

  void Update(int done, int total);
  // Ends the bar's line, if one is drawn.
  void Done();

 private:
  std::FILE* const out_;
  const int width_;
  const bool enabled_;
  bool drawn_ = false;
};

}  // namespace infusion::cli

#endif  // INFUSION_CLIENTS_CLI_PROGRESS_BAR_H_
