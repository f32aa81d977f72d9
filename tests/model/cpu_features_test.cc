#include "engine/kernels/cpu_features.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace infusion::engine {
namespace {

// The CPU flags Linux reports for the first processor, empty where there is no /proc/cpuinfo.
std::set<std::string> LinuxCpuFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return {};
}

// The run-time detection agrees with what the kernel reports (it lists AVX-512 and AMX only
// where it saves their registers, as the detection requires of XCR0).
TEST(CpuFeaturesTest, AgreesWithTheKernelsFlags) {
  const std::set<std::string> flags = LinuxCpuFlags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags here";
  const auto has = [&flags](const char* f) { return flags.count(f) > 0; };
  const CpuFeatures& cpu = DetectCpuFeatures();
  EXPECT_EQ(cpu.avx2_fma, has("avx2") && has("fma"));
  EXPECT_EQ(cpu.avx512f, has("avx512f"));
  EXPECT_EQ(cpu.avx512_bf16, has("avx512_bf16"));
  EXPECT_EQ(cpu.amx_bf16, has("amx_bf16") && has("amx_tile"));
  EXPECT_EQ(cpu.native_bf16(), has("avx512_bf16") || (has("amx_bf16") && has("amx_tile")));
  EXPECT_EQ(&DetectCpuFeatures(), &cpu);  // detected once
}

TEST(CpuFeaturesTest, ToStringNamesWhatIsPresent) {
  EXPECT_EQ(CpuFeatures{}.ToString(), "baseline");
  CpuFeatures f;
  f.avx2_fma = true;
  EXPECT_EQ(f.ToString(), "avx2 fma");
  f.avx512f = f.avx512_bf16 = f.amx_bf16 = true;
  EXPECT_EQ(f.ToString(), "avx2 fma avx512f avx512_bf16 amx_bf16");
  EXPECT_TRUE(f.native_bf16());
  f.avx512_bf16 = false;
  EXPECT_TRUE(f.native_bf16());
  f.amx_bf16 = false;
  EXPECT_FALSE(f.native_bf16());
}

}  // namespace
}  // namespace infusion::engine
