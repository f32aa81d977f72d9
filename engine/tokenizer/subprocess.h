// Runs a helper program and waits for it. The tokenizer trains through Debian's `spm_train`
// executable rather than libsentencepiece_train: a separate process keeps sentencepiece's copy of
// protobuf out of our binaries, which load LibTorch's and gRPC's.
#ifndef INFUSION_ENGINE_TOKENIZER_SUBPROCESS_H_
#define INFUSION_ENGINE_TOKENIZER_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace infusion::engine {

// Runs argv[0] (looked up on PATH) with the arguments argv[1..] — passed as they are, no shell —
// in `working_dir`, with stdin from /dev/null and stdout and stderr written to `log_file` (a
// path relative to `working_dir`, as are relative paths in argv). NotFound when the program is
// not installed; Internal, quoting the end of the log, when it fails or is killed.
absl::Status RunProcess(const std::vector<std::string>& argv, const std::string& working_dir,
                        const std::string& log_file);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_SUBPROCESS_H_
