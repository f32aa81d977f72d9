#include "server/request_parser.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include <climits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Whether protobuf's parser checks this field's values for UTF-8 (and logs when one fails).
bool IsCheckedString(const FieldDescriptor& field) {
  return field.type() == FieldDescriptor::TYPE_STRING &&
         field.file()->syntax() == FileDescriptor::SYNTAX_PROTO3;
}

// Walks the fields of one message of `type` up to the input's current limit, as protobuf's parser
// would read them (a field whose wire type does not match its declaration is an unknown field, so
// it is skipped). Sets `*invalid` to the path of the first checked string that is not UTF-8 and
// returns true at once; otherwise returns whether the bytes are a well-formed message.
bool FindInvalidUtf8(CodedInputStream* input, const Descriptor& type, const std::string& prefix,
                     std::string* invalid) {
  std::vector<int> seen(type.field_count(), 0);  // elements of each repeated field so far
  while (true) {
    const uint32_t tag = input->ReadTag();
    if (tag == 0) return input->ConsumedEntireMessage();
    const FieldDescriptor* field = type.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    const bool walk =
        field != nullptr &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
        (IsCheckedString(*field) || field->type() == FieldDescriptor::TYPE_MESSAGE);
    if (!walk) {
      if (!WireFormatLite::SkipField(input, tag)) return false;
      continue;
    }
    uint32_t length = 0;
    if (!input->ReadVarint32(&length) || length > static_cast<uint32_t>(INT_MAX)) return false;
    std::string path = absl::StrCat(prefix, field->name());
    if (field->is_repeated()) absl::StrAppend(&path, "[", seen[field->index()]++, "]");

    if (field->type() == FieldDescriptor::TYPE_STRING) {
      const void* data = nullptr;
      int available = 0;
      // The input is one array, so the rest of the message is directly addressable.
      if (length > 0 && (!input->GetDirectBufferPointer(&data, &available) ||
                         available < static_cast<int>(length))) {
        return false;
      }
      if (!google::protobuf::internal::IsStructurallyValidUTF8(static_cast<const char*>(data),
                                                               static_cast<int>(length))) {
        *invalid = std::move(path);
        return true;
      }
      if (!input->Skip(static_cast<int>(length))) return false;
      continue;
    }
    // A nested message, with protobuf's own bound on nesting depth.
    if (!input->IncrementRecursionDepth()) return false;
    const CodedInputStream::Limit limit = input->PushLimit(static_cast<int>(length));
    if (input->BytesUntilLimit() != static_cast<int>(length)) return false;  // truncated
    if (!FindInvalidUtf8(input, *field->message_type(), path + ".", invalid)) return false;
    if (!invalid->empty()) return true;
    input->PopLimit(limit);
    input->DecrementRecursionDepth();
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RequestParser>> RequestParser::Create(const FileDescriptor* file) {
  if (file == nullptr) return absl::InvalidArgumentError("no .proto file to parse requests of");
  return std::unique_ptr<RequestParser>(new RequestParser(file));
}

absl::Status RequestParser::Parse(const grpc::ByteBuffer& buffer, Message* message) const {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return absl::InvalidArgumentError("unreadable request");
  std::string bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return Parse(bytes, message);
}

absl::Status RequestParser::Parse(absl::string_view bytes, Message* message) const {
  const Descriptor& type = *message->GetDescriptor();
  CHECK(type.file() == file_) << type.full_name() << " is not of " << file_->name();
  const std::string what = absl::StrCat("request is not a valid ", type.full_name());
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return absl::InvalidArgumentError(what);
  CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                         static_cast<int>(bytes.size()));
  std::string invalid;
  const bool well_formed = FindInvalidUtf8(&input, type, "", &invalid);
  if (!invalid.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(invalid, " is not valid UTF-8"));
  }
  // Malformed bytes are refused without protobuf: it may still check a string it reads past the
  // end of the input (into its own padding) before it sees the truncation, and log about that.
  if (!well_formed) return absl::InvalidArgumentError(what);
  // The bytes are a well-formed message whose every checked string is UTF-8, so protobuf has
  // nothing to log; it may still refuse what the walk did not check (an over-long varint).
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(what);
  }
  return absl::OkStatus();
}

}  // namespace infusion::server
