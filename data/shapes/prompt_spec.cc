#include "data/shapes/prompt_spec.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace infusion::data::shapes {
namespace {

constexpr std::array<const char*, 6> kCategoryNames = {
    "single_object", "position", "two_objects", "relation", "counting", "color_attribution"};

// The phrases below are the whole language: FormatPrompt writes them and the parser recognises a
// phrase by comparing the text with each candidate's formatting, so the two cannot drift apart.

// "a red circle" or "a red circle at the top left".
std::string ObjectPhrase(const ObjectConstraint& object) {
  std::string phrase = IndefiniteObjectName(object.shape, object.color);
  if (object.cell) absl::StrAppend(&phrase, " at the ", CellName(*object.cell));
  return phrase;
}

// "two green triangles".
std::string CountingPhrase(int count, Shape shape, Color color) {
  return absl::StrCat(NumberName(count), " ", ColorName(color), " ", ShapePluralName(shape));
}

bool AllIdentical(const std::vector<ObjectConstraint>& objects) {
  return std::all_of(objects.begin(), objects.end(),
                     [&](const ObjectConstraint& o) { return o == objects.front(); });
}

// SplitWords and StripWhitespace stand in for absl::StrSplit / StripAsciiWhitespace, which take
// this Abseil build's own absl::string_view rather than std::string_view.

// The words of `text` between single spaces (two spaces in a row give an empty word).
std::vector<std::string_view> SplitWords(std::string_view text) {
  std::vector<std::string_view> words;
  for (size_t space = text.find(' '); space != std::string_view::npos; space = text.find(' ')) {
    words.push_back(text.substr(0, space));
    text.remove_prefix(space + 1);
  }
  words.push_back(text);
  return words;
}

std::string_view StripWhitespace(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\n\r");
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t\n\r") - begin + 1);
}

// Reads a prompt phrase by phrase.
class WordReader {
 public:
  explicit WordReader(std::string_view text) : words_(SplitWords(text)) {}

  // Consumes `phrase` (one or more words) when the next words are exactly its words.
  bool Accept(std::string_view phrase) {
    const std::vector<std::string_view> phrase_words = SplitWords(phrase);
    if (next_ + phrase_words.size() > words_.size() ||
        !std::equal(phrase_words.begin(), phrase_words.end(), words_.begin() + next_)) {
      return false;
    }
    next_ += phrase_words.size();
    return true;
  }

  bool AtEnd() const { return next_ == words_.size(); }

  absl::Status Expected(const char* what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", what, " at word ", next_ + 1, " (",
        AtEnd() ? "end of text" : absl::StrCat("\"", std::string(words_[next_]), "\""), ")"));
  }

 private:
  std::vector<std::string_view> words_;
  size_t next_ = 0;
};

template <typename T, size_t N, typename NameFn>
std::optional<T> AcceptOneOf(WordReader& words, const std::array<T, N>& values, NameFn name) {
  for (const T& value : values) {
    if (words.Accept(name(value))) return value;
  }
  return std::nullopt;
}

absl::StatusOr<ObjectConstraint> ParseObject(WordReader& words) {
  for (Shape shape : kAllShapes) {
    for (Color color : kAllColors) {
      if (!words.Accept(IndefiniteObjectName(shape, color))) continue;
      ObjectConstraint object{shape, color, std::nullopt};
      if (words.Accept("at the")) {
        object.cell = AcceptOneOf(words, kAllCells, CellName);
        if (!object.cell) return words.Expected("a cell such as \"top left\" or \"center\"");
      }
      return object;
    }
  }
  return words.Expected("an object such as \"a red circle\"");
}

std::optional<PromptSpec> AcceptCounting(WordReader& words) {
  for (int count = 2; count <= kMaxObjects; ++count) {
    for (Shape shape : kAllShapes) {
      for (Color color : kAllColors) {
        if (words.Accept(CountingPhrase(count, shape, color))) {
          PromptSpec spec;
          spec.objects.assign(count, ObjectConstraint{shape, color, std::nullopt});
          return spec;
        }
      }
    }
  }
  return std::nullopt;
}

absl::StatusOr<PromptSpec> ParseWords(WordReader& words) {
  std::optional<PromptSpec> spec = AcceptCounting(words);
  if (!spec) {
    spec.emplace();
    ASSIGN_OR_RETURN(ObjectConstraint first, ParseObject(words));
    spec->objects.push_back(first);
    spec->relation = AcceptOneOf(words, kAllRelations, RelationName);
    if (spec->relation) {
      ASSIGN_OR_RETURN(ObjectConstraint second, ParseObject(words));
      spec->objects.push_back(second);
    } else {
      while (words.Accept("and")) {
        ASSIGN_OR_RETURN(ObjectConstraint next, ParseObject(words));
        spec->objects.push_back(next);
      }
    }
  }
  if (!words.AtEnd()) return words.Expected("the end of the prompt");
  RETURN_IF_ERROR(ValidatePromptSpec(*spec));
  return *std::move(spec);
}

bool Matches(const ObjectConstraint& constraint, const ObjectLabel& label) {
  return constraint.shape == label.shape && constraint.color == label.color &&
         (!constraint.cell || *constraint.cell == label.cell);
}

}  // namespace

std::string CategoryName(PromptCategory category) {
  return kCategoryNames[static_cast<size_t>(category)];
}

absl::StatusOr<PromptCategory> CategoryFromName(std::string_view name) {
  for (PromptCategory category : kAllCategories) {
    if (CategoryName(category) == name) return category;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown prompt category \"", std::string(name), "\""));
}

bool operator==(const ObjectConstraint& a, const ObjectConstraint& b) {
  return a.shape == b.shape && a.color == b.color && a.cell == b.cell;
}

bool operator==(const PromptSpec& a, const PromptSpec& b) {
  return a.objects == b.objects && a.relation == b.relation;
}

absl::Status ValidatePromptSpec(const PromptSpec& spec) {
  const std::vector<ObjectConstraint>& objects = spec.objects;
  if (objects.empty() || objects.size() > kMaxObjects) {
    return absl::InvalidArgumentError(
        absl::StrCat("a prompt names 1 to ", kMaxObjects, " objects, not ", objects.size()));
  }
  const size_t placed = static_cast<size_t>(
      std::count_if(objects.begin(), objects.end(),
                    [](const ObjectConstraint& o) { return o.cell.has_value(); }));
  if (placed != 0 && placed != objects.size()) {
    return absl::InvalidArgumentError("positions are given for every object or for none");
  }
  if (spec.relation) {
    if (objects.size() != 2 || placed != 0) {
      return absl::InvalidArgumentError(absl::StrCat("\"", RelationName(*spec.relation),
                                                     "\" relates two objects without positions"));
    }
    return absl::OkStatus();
  }
  if (placed != 0) {
    for (size_t i = 0; i < objects.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (*objects[i].cell == *objects[j].cell) {
          return absl::InvalidArgumentError(
              absl::StrCat("two objects at the ", CellName(*objects[i].cell)));
        }
      }
    }
    return absl::OkStatus();
  }
  if (objects.size() == 3 && !AllIdentical(objects)) {
    return absl::InvalidArgumentError(
        "three objects without positions are only asked for by counting (\"three red circles\")");
  }
  return absl::OkStatus();
}

PromptCategory Category(const PromptSpec& spec) {
  const absl::Status valid = ValidatePromptSpec(spec);
  CHECK(valid.ok()) << valid;
  const std::vector<ObjectConstraint>& objects = spec.objects;
  if (spec.relation) return PromptCategory::kRelation;
  if (objects.front().cell) return PromptCategory::kPosition;
  if (objects.size() == 1) return PromptCategory::kSingleObject;
  if (AllIdentical(objects)) return PromptCategory::kCounting;
  const bool share_attribute =
      objects[0].color == objects[1].color || objects[0].shape == objects[1].shape;
  return share_attribute ? PromptCategory::kTwoObjects : PromptCategory::kColorAttribution;
}

std::string FormatPrompt(const PromptSpec& spec) {
  const std::vector<ObjectConstraint>& objects = spec.objects;
  switch (Category(spec)) {
    case PromptCategory::kCounting:
      return CountingPhrase(static_cast<int>(objects.size()), objects[0].shape, objects[0].color);
    case PromptCategory::kRelation:
      return absl::StrCat(ObjectPhrase(objects[0]), " ", RelationName(*spec.relation), " ",
                          ObjectPhrase(objects[1]));
    default:
      return absl::StrJoin(objects, " and ", [](std::string* out, const ObjectConstraint& o) {
        out->append(ObjectPhrase(o));
      });
  }
}

absl::StatusOr<PromptSpec> ParsePrompt(std::string_view text) {
  const std::string_view stripped = StripWhitespace(text);
  WordReader words(stripped);
  absl::StatusOr<PromptSpec> spec = ParseWords(words);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", std::string(stripped), "\" is not a shapes prompt: ", spec.status().message()));
  }
  return spec;
}

bool Satisfies(const PromptSpec& spec, const std::vector<ObjectLabel>& detected) {
  const size_t n = spec.objects.size();
  if (detected.size() != n) return false;
  // Try every assignment of detected objects to the named ones: at most 3! of them.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  do {
    bool match = true;
    for (size_t i = 0; i < n && match; ++i) match = Matches(spec.objects[i], detected[order[i]]);
    if (match && spec.relation) {
      match = Holds(*spec.relation, detected[order[0]].cell, detected[order[1]].cell);
    }
    if (match) return true;
  } while (std::next_permutation(order.begin(), order.end()));
  return false;
}

PromptSpec DescribeScene(const Scene& scene) {
  PromptSpec spec;
  for (const ObjectLabel& label : Labels(scene)) {
    spec.objects.push_back({label.shape, label.color, label.cell});
  }
  return spec;
}

std::string CanonicalCaption(const Scene& scene) { return FormatPrompt(DescribeScene(scene)); }

absl::StatusOr<std::vector<ObjectLabel>> ParseCanonicalCaption(std::string_view text) {
  ASSIGN_OR_RETURN(PromptSpec spec, ParsePrompt(text));
  if (Category(spec) != PromptCategory::kPosition) {
    return absl::InvalidArgumentError(absl::StrCat("\"", std::string(StripWhitespace(text)),
                                                   "\" is not a caption: it places no object"));
  }
  std::vector<ObjectLabel> labels;
  for (const ObjectConstraint& object : spec.objects) {
    labels.push_back({object.shape, object.color, *object.cell});
  }
  return labels;
}

}  // namespace infusion::data::shapes
