#include "engine/weights/safetensors.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace infusion::engine {
namespace {

using ::testing::HasSubstr;

// A directory of scratch files for this test binary, removed when the binary exits.
const std::string& ScratchDir() {
  struct Dir {
    Dir() : path(absl::StrCat(testing::TempDir(), "safetensors_test_", getpid())) {
      std::filesystem::create_directories(path);
    }
    ~Dir() { std::filesystem::remove_all(path); }
    std::string path;
  };
  static const Dir dir;
  return dir.path;
}

std::string TempPath(const std::string& name) { return ScratchDir() + "/" + name; }

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// A file laid out by hand: 8-byte little-endian header length, the header, the data section.
std::string RawFile(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return bytes + header + data;
}

at::Tensor Floats(std::vector<float> values, std::vector<int64_t> shape) {
  return at::tensor(values, at::kFloat).reshape(shape);
}

TEST(SafetensorsTest, RoundTripF32KeepsNamesOrderShapesAndMetadata) {
  const std::string path = TempPath("f32.safetensors");
  const at::Tensor matrix = Floats({1, 2, 3, 4, 5, 6}, {2, 3});
  const at::Tensor scalar = at::scalar_tensor(7.25);
  ASSERT_TRUE(
      WriteSafetensors(path, {{"z.matrix", matrix}, {"a.scalar", scalar}}, {{"step", "12"}}).ok());
  EXPECT_FALSE(FileExists(path + ".tmp"));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->names(), (std::vector<std::string>{"z.matrix", "a.scalar"}));
  EXPECT_EQ((*file)->metadata(), (std::map<std::string, std::string>{{"step", "12"}}));

  absl::StatusOr<TensorInfo> info = (*file)->Info("z.matrix");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dtype, DType::kF32);
  EXPECT_EQ(info->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(info->begin, 0u);
  EXPECT_EQ(info->end, 24u);

  absl::StatusOr<at::Tensor> read_matrix = (*file)->ReadF32("z.matrix");
  ASSERT_TRUE(read_matrix.ok());
  EXPECT_TRUE(at::equal(*read_matrix, matrix));
  absl::StatusOr<at::Tensor> read_scalar = (*file)->ReadF32("a.scalar");
  ASSERT_TRUE(read_scalar.ok());
  EXPECT_EQ(read_scalar->dim(), 0);
  EXPECT_EQ(read_scalar->item<float>(), 7.25f);
}

TEST(SafetensorsTest, F16IsStoredAsHalfBitsAndWidenedOnRead) {
  const std::string path = TempPath("f16.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", Floats({1.0f, -2.0f}, {2})}}, {}, DType::kF16).ok());

  // The header is padded so that the data starts 8-byte aligned; 1.0 is 0x3C00 and -2.0 is
  // 0xC000 in IEEE half precision, stored little-endian.
  const std::string bytes = ReadBytes(path);
  ASSERT_EQ(bytes.size() % 8, 4u);
  EXPECT_EQ(bytes.substr(bytes.size() - 4), std::string("\x00\x3C\x00\xC0", 4));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Info("x")->dtype, DType::kF16);
  absl::StatusOr<at::Tensor> x = (*file)->ReadF32("x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(*x, Floats({1.0f, -2.0f}, {2})));
}

TEST(SafetensorsTest, BF16RoundsToEightSignificantBits) {
  const std::string path = TempPath("bf16.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", Floats({1.5f, 0.1f}, {2})}}, {}, DType::kBF16).ok());
  const std::string bytes = ReadBytes(path);
  // 1.5 is 0x3FC0; 0.1 rounds to 0x3DCD, which is 0.10009765625.
  EXPECT_EQ(bytes.substr(bytes.size() - 4), std::string("\xC0\x3F\xCD\x3D", 4));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<at::Tensor> x = (*file)->ReadF32("x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ((*x)[0].item<float>(), 1.5f);
  EXPECT_EQ((*x)[1].item<float>(), 0.10009765625f);
}

TEST(SafetensorsTest, ReadsHandWrittenFileWithUnalignedData) {
  // A 59-byte header leaves the data section unaligned; offsets need not start at zero.
  const std::string header = R"({"w":{"dtype":"F16","shape":[1,2],"data_offsets":[2,6]}}   )";
  ASSERT_EQ(header.size() % 2, 1u);
  const std::string path = TempPath("hand.safetensors");
  WriteBytes(path, RawFile(header, std::string("\xFF\xFF\x00\x3C\x00\xC0", 6)));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->metadata().empty());
  absl::StatusOr<at::Tensor> w = (*file)->ReadF32("w");
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(at::equal(*w, Floats({1.0f, -2.0f}, {1, 2})));
}

TEST(SafetensorsTest, AbsentTensorIsNotFoundNamingFileAndTensor) {
  const std::string path = TempPath("absent.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", Floats({1}, {1})}}).ok());
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE((*file)->Contains("b"));
  absl::StatusOr<at::Tensor> b = (*file)->ReadF32("b");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(b.status().message(), HasSubstr(path));
  EXPECT_THAT(b.status().message(), HasSubstr("'b'"));
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  const std::string path = TempPath("does_not_exist.safetensors");
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr(path));
}

struct MalformedCase {
  const char* what;
  std::string bytes;
  std::vector<std::string> message_parts;  // besides the file name
};

TEST(SafetensorsTest, EveryMalformedFileIsRefusedWithAMessageNamingIt) {
  const std::string ok_tensor = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight_bytes(8, '\0');
  std::string long_length = RawFile("{}", "");
  long_length[0] = 100;  // claims a 100-byte header in a 10-byte file
  const std::vector<MalformedCase> cases = {
      {"empty file", "", {"truncated file"}},
      {"shorter than the length field", std::string("\x02\x00\x00", 3), {"truncated file"}},
      {"header length beyond the file", long_length, {"truncated file", "header length 100"}},
      {"bad JSON", RawFile(R"({"t": {"dtype": )", ""), {"not valid JSON"}},
      {"header not an object", RawFile("[1, 2]", ""), {"not a JSON object"}},
      {"unsupported dtype",
       RawFile(R"({"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", eight_bytes),
       {"tensor 't'", "unsupported dtype 'I64'"}},
      {"missing dtype",
       RawFile(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", eight_bytes),
       {"tensor 't'", "'dtype'"}},
      {"negative dimension",
       RawFile(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight_bytes),
       {"tensor 't'", "bad dimension -2"}},
      {"offsets out of range",
       RawFile(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight_bytes),
       {"tensor 't'", "beyond the data section of 8 bytes"}},
      {"offsets reversed",
       RawFile(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight_bytes),
       {"tensor 't'", "data_offsets"}},
      {"size not matching dtype x shape",
       RawFile(R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", eight_bytes),
       {"tensor 't'", "hold 8 bytes, but F16 [2] needs 4"}},
      {"truncated data",
       RawFile("{" + ok_tensor + "}", std::string(5, '\0')),
       {"tensor 't'", "beyond the data section of 5 bytes"}},
      {"overlapping tensors",
       RawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               eight_bytes),
       {"tensor 'b'", "overlap", "'a'"}},
      {"metadata not strings",
       RawFile(R"({"__metadata__":{"step":12},)" + ok_tensor + "}", eight_bytes),
       {"metadata 'step'"}},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = TempPath("malformed.safetensors");
    WriteBytes(path, c.bytes);
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(file.status().message(), HasSubstr(path));
    for (const std::string& part : c.message_parts) {
      EXPECT_THAT(file.status().message(), HasSubstr(part));
    }
  }
}

TEST(SafetensorsTest, DuplicateNamesOnWriteAreRefusedAndNothingIsWritten) {
  const std::string path = TempPath("duplicate.safetensors");
  const absl::Status status =
      WriteSafetensors(path, {{"w", Floats({1}, {1})}, {"w", Floats({2}, {1})}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(status.message(), HasSubstr("tensor 'w': duplicate"));
  EXPECT_FALSE(FileExists(path));
  EXPECT_FALSE(FileExists(path + ".tmp"));
}

TEST(SafetensorsTest, NonFloatTensorsAndReservedNamesAreRefusedOnWrite) {
  const std::string path = TempPath("refused.safetensors");
  EXPECT_THAT(WriteSafetensors(path, {{"ids", at::arange(3)}}).message(),
              HasSubstr("tensor 'ids'"));
  EXPECT_THAT(WriteSafetensors(path, {{"__metadata__", Floats({1}, {1})}}).message(),
              HasSubstr("invalid tensor name"));
  EXPECT_FALSE(FileExists(path));
}

TEST(SafetensorsTest, WriteReplacesAnExistingFile) {
  const std::string path = TempPath("replace.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"old", Floats({1, 2}, {2})}}).ok());
  ASSERT_TRUE(WriteSafetensors(path, {{"new", Floats({3}, {1})}}).ok());
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->names(), std::vector<std::string>{"new"});
}

TEST(SafetensorsTest, WriteIntoMissingDirectoryFails) {
  const absl::Status status =
      WriteSafetensors(TempPath("no_such_dir/x.safetensors"), {{"a", Floats({1}, {1})}});
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("no_such_dir/x.safetensors.tmp"));
}

// Random truncations and bit flips of a valid file: Open either refuses the file with a message
// naming it or accepts it, and every tensor of an accepted file can be read.
TEST(SafetensorsTest, FuzzedFilesNeverCrash) {
  const std::string valid_path = TempPath("fuzz_valid.safetensors");
  ASSERT_TRUE(WriteSafetensors(valid_path,
                               {{"a", Floats({1, 2, 3, 4, 5, 6}, {2, 3})},
                                {"b", Floats({7}, {1})},
                                {"c", at::zeros({0, 4})}},
                               {{"note", "fuzz"}}, DType::kF16)
                  .ok());
  const std::string valid = ReadBytes(valid_path);
  const std::string path = TempPath("fuzz.safetensors");
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int iteration = 0; iteration < 400; ++iteration) {
    std::string bytes = valid;
    if (iteration % 2 == 0) {
      bytes.resize(std::uniform_int_distribution<size_t>(0, valid.size() - 1)(rng));
    } else {
      const int flips = std::uniform_int_distribution<int>(1, 4)(rng);
      for (int f = 0; f < flips; ++f) {
        const size_t at = std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng);
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
      }
    }
    WriteBytes(path, bytes);
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
    if (!file.ok()) {
      EXPECT_THAT(file.status().message(), HasSubstr(path));
      continue;
    }
    ++accepted;
    for (const std::string& name : (*file)->names()) {
      EXPECT_TRUE((*file)->ReadF32(name).ok()) << name;
    }
  }
  // Flips inside the data section leave a valid file, so some mutations must be accepted.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 400);
}

}  // namespace
}  // namespace infusion::engine
