// Checked conversions of the JSON values of config.json and generation.json. nlohmann's get<int>()
// and get<float>() convert any JSON number with a static_cast: undefined behaviour for a value out
// of range (1e53 into an int, 1e300 into a float: found by fuzz/model_config_fuzzer.cc), and a
// silent truncation of 2.5 into 2. A config file is input the server did not write, so numbers are
// converted here, their range checked.
#ifndef INFUSION_ENGINE_MODEL_JSON_VALUE_H_
#define INFUSION_ENGINE_MODEL_JSON_VALUE_H_

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace infusion::engine {

// Each sets *out and returns "", or returns what is wrong with `value` (for "'key' <what>").

inline std::string JsonToValue(const nlohmann::json& value, int* out) {
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(INT_MAX)) return "is out of range";
    *out = static_cast<int>(value.get<uint64_t>());
  } else if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < INT_MIN || v > INT_MAX) return "is out of range";
    *out = static_cast<int>(v);
  } else if (value.is_number_float()) {
    // 64.0 is an integer written as a float; 2.5 and 1e53 are not ints.
    const double v = value.get<double>();
    if (!(v >= INT_MIN && v <= INT_MAX) || v != std::trunc(v)) {
      return absl::StrCat("must be an integer in the range of int, got ", value.dump());
    }
    *out = static_cast<int>(v);
  } else {
    return absl::StrCat("has the wrong type: must be a number, not ", value.type_name());
  }
  return "";
}

inline std::string JsonToValue(const nlohmann::json& value, float* out) {
  if (!value.is_number()) {
    return absl::StrCat("has the wrong type: must be a number, not ", value.type_name());
  }
  const double v = value.get<double>();
  if (!(std::fabs(v) <= FLT_MAX)) return absl::StrCat("is out of range: ", value.dump());
  *out = static_cast<float>(v);
  return "";
}

// Booleans and strings, which nlohmann converts exactly or refuses by type.
template <typename T>
std::string JsonToValue(const nlohmann::json& value, T* out) {
  try {
    *out = value.get<T>();
  } catch (const nlohmann::json::exception& e) {
    return absl::StrCat("has the wrong type: ", e.what());
  }
  return "";
}

template <typename T>
std::string JsonToValue(const nlohmann::json& value, std::vector<T>* out) {
  if (!value.is_array()) {
    return absl::StrCat("has the wrong type: must be an array, not ", value.type_name());
  }
  std::vector<T> elements(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string what = JsonToValue(value[i], &elements[i]);
    if (!what.empty()) return absl::StrCat("[", i, "] ", what);
  }
  *out = std::move(elements);
  return "";
}

// Why `text` is not JSON, with where: "parse error at line 3, column 1: syntax error while
// parsing object - unexpected end of input; expected '}'", so that a broken config file can be
// found and fixed. Empty when it parses.
inline std::string JsonSyntaxError(const std::string& text) {
  try {
    const nlohmann::json parsed = nlohmann::json::parse(text);
    (void)parsed;
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] ": the id means nothing to a reader.
    const size_t bracket = what.find("] ");
    if (what.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) {
      what = what.substr(bracket + 2);
    }
    return what;
  }
  return std::string();
}

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_JSON_VALUE_H_
