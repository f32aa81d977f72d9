#include "server/request_parser.h"

#include <google/protobuf/descriptor.pb.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/sampler/utf8.h"

namespace infusion {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptor;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::Message;
using google::protobuf::Reflection;

void StringsToBytes(DescriptorProto* message) {
  for (FieldDescriptorProto& field : *message->mutable_field()) {
    if (field.type() == FieldDescriptorProto::TYPE_STRING) {
      field.set_type(FieldDescriptorProto::TYPE_BYTES);
    }
  }
  for (DescriptorProto& nested : *message->mutable_nested_type()) StringsToBytes(&nested);
}

// Walks `message` (of the lenient schema) beside `original` (the real schema) and returns the
// path of the first string field whose value is not UTF-8, or "" when there is none.
std::string FindInvalidUtf8(const Message& message, const Descriptor& original,
                            const std::string& prefix) {
  const Reflection& reflection = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const FieldDescriptor* real = original.FindFieldByNumber(field->number());
    if (real == nullptr) continue;
    const std::string path =
        prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    const int count = field->is_repeated() ? reflection.FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const std::string element = field->is_repeated() ? absl::StrCat(path, "[", i, "]") : path;
      if (real->type() == FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        const std::string& value =
            field->is_repeated()
                ? reflection.GetRepeatedStringReference(message, field, i, &scratch)
                : reflection.GetStringReference(message, field, &scratch);
        if (!IsValidUtf8(value)) return element;
      } else if (real->type() == FieldDescriptor::TYPE_MESSAGE) {
        const Message& child = field->is_repeated()
                                   ? reflection.GetRepeatedMessage(message, field, i)
                                   : reflection.GetMessage(message, field);
        std::string found = FindInvalidUtf8(child, *real->message_type(), element);
        if (!found.empty()) return found;
      }
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<RequestParser>> RequestParser::Create(
    const google::protobuf::FileDescriptor* file) {
  if (file->dependency_count() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file->name(), ": request schemas must not import other files"));
  }
  google::protobuf::FileDescriptorProto lenient;
  file->CopyTo(&lenient);
  for (DescriptorProto& message : *lenient.mutable_message_type()) StringsToBytes(&message);
  std::unique_ptr<RequestParser> parser(new RequestParser());
  if (parser->lenient_pool_.BuildFile(lenient) == nullptr) {
    return absl::InternalError(absl::StrCat(file->name(), ": cannot build the lenient schema"));
  }
  return parser;
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
  if (message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::OkStatus();
  }
  return Diagnose(bytes, *message->GetDescriptor());
}

absl::Status RequestParser::Diagnose(absl::string_view bytes, const Descriptor& type) const {
  const std::string what = absl::StrCat("request is not a valid ", type.full_name());
  const Descriptor* lenient_type = lenient_pool_.FindMessageTypeByName(type.full_name());
  if (lenient_type == nullptr) return absl::InvalidArgumentError(what);
  std::unique_ptr<Message> lenient(factory_.GetPrototype(lenient_type)->New());
  if (!lenient->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(what);
  }
  const std::string field = FindInvalidUtf8(*lenient, type, "");
  if (field.empty()) return absl::InvalidArgumentError(what);
  return absl::InvalidArgumentError(absl::StrCat(field, " is not valid UTF-8"));
}

}  // namespace infusion
