// Minimal logging and invariant checks. CHECK is for programmer errors only; user input is
// validated and answered with absl::Status.
#ifndef INFUSION_COMMON_LOGGING_H_
#define INFUSION_COMMON_LOGGING_H_

#include <sstream>
#include <string>

namespace infusion {

enum class LogSeverity { kInfo, kWarning, kError, kFatal };

// Collects one log line and writes it to stderr (with a timestamp) when destroyed.
class LogMessage {
 public:
  LogMessage(const char* file, int line, LogSeverity severity);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Lines below this severity are dropped (default kInfo; INFUSION_LOG_LEVEL=warning|error).
void SetMinLogSeverity(LogSeverity severity);

}  // namespace infusion

#define INFUSION_LOG_INFO ::infusion::LogSeverity::kInfo
#define INFUSION_LOG_WARNING ::infusion::LogSeverity::kWarning
#define INFUSION_LOG_ERROR ::infusion::LogSeverity::kError
#define INFUSION_LOG_FATAL ::infusion::LogSeverity::kFatal

// LibTorch brings glog's macros of the same names; ours (same meaning) replace them.
#undef LOG
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE

#define LOG(severity) \
  ::infusion::LogMessage(__FILE__, __LINE__, INFUSION_LOG_##severity).stream()

#define CHECK(cond)                                              \
  if (cond) {                                                    \
  } else /* NOLINT */                                            \
    ::infusion::LogMessage(__FILE__, __LINE__, INFUSION_LOG_FATAL) \
            .stream()                                            \
        << "Check failed: " #cond " "

#define CHECK_EQ(a, b) CHECK((a) == (b))
#define CHECK_NE(a, b) CHECK((a) != (b))
#define CHECK_LT(a, b) CHECK((a) < (b))
#define CHECK_LE(a, b) CHECK((a) <= (b))
#define CHECK_GT(a, b) CHECK((a) > (b))
#define CHECK_GE(a, b) CHECK((a) >= (b))

#endif  // INFUSION_COMMON_LOGGING_H_
