#include "clients/eval/report_writer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"

namespace infusion::eval {

using engine::WriteImageFile;

namespace {

constexpr char kResultsFile[] = "results.json";
constexpr char kReportFile[] = "report.md";

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string Fixed(double value) { return absl::StrFormat("%.3f", value); }

// `text` as one markdown table cell: pipes escaped, line breaks shown as the escape sequence.
std::string MarkdownCell(const std::string& text) {
  return absl::StrReplaceAll(text, {{"|", "\\|"}, {"\n", "\\n"}, {"\r", "\\r"}});
}

// The number at `pointer`, or nullopt when results lack it.
std::optional<double> NumberAt(const Json& results, const std::string& pointer) {
  const Json::json_pointer p(pointer);
  if (!results.contains(p) || !results.at(p).is_number()) return std::nullopt;
  return results.at(p).get<double>();
}

// One done-when target of the tracker's issue 7.
struct Target {
  std::string what;
  std::optional<double> value;
  double threshold;
};

std::vector<Target> Targets(const Json& results) {
  std::vector<Target> targets;
  if (results.contains("shapes")) {
    const Json& shapes = results["shapes"];
    std::optional<double> lowest;
    if (shapes.contains("text_to_image")) {
      for (const auto& [name, category] : shapes["text_to_image"]["categories"].items()) {
        const double accuracy = category["accuracy"].get<double>();
        lowest = lowest ? std::min(*lowest, accuracy) : accuracy;
      }
    }
    targets.push_back({"shapes: text-to-image overall accuracy",
                       NumberAt(results, "/shapes/text_to_image/overall"), 0.70});
    targets.push_back({"shapes: text-to-image accuracy of every category", lowest, 0.4});
    targets.push_back(
        {"shapes: caption exact match", NumberAt(results, "/shapes/captioning/exact_match"), 0.90});
    targets.push_back({"shapes: chat accuracy", NumberAt(results, "/shapes/chat/accuracy"), 0.90});
    targets.push_back({"shapes: edits matching the expected objects",
                       NumberAt(results, "/shapes/edits/accuracy"), 0.60});
  }
  if (results.contains("emoji")) {
    std::string what = "emoji: text-to-image retrieval top-5";
    const std::optional<double> total = NumberAt(results, "/emoji/retrieval/top5/total");
    const std::optional<double> size = NumberAt(results, "/emoji/dataset_size");
    if (total && size && *total < *size) {
      absl::StrAppend(&what, " (a sample of ", *total, " of ", *size, " names)");
    }
    targets.push_back({what, NumberAt(results, "/emoji/retrieval/top5/accuracy"), 0.5});
  }
  return targets;
}

void AccuracyTable(std::ostream& out, const std::string& header, const Json& rows) {
  out << "| " << header << " | accuracy | correct / total |\n|---|---|---|\n";
  for (const auto& [name, row] : rows.items()) {
    out << "| " << name << " | " << Fixed(row["accuracy"].get<double>()) << " | "
        << row["correct"].get<int>() << " / " << row["total"].get<int>() << " |\n";
  }
  out << "\n";
}

void RunLine(std::ostream& out, const Json& section) {
  if (!section.contains("run")) return;
  out << "Run:";
  for (const auto& [key, value] : section["run"].items()) {
    out << " " << key << " = " << (value.is_string() ? value.get<std::string>() : value.dump())
        << ";";
  }
  out << "\n\n";
}

// The grid `name` of a section, when it has one.
void Grid(std::ostream& out, const Json& section, const std::string& name) {
  if (!section.contains("grids") || !section["grids"].contains(name)) return;
  out << "**" << name << "** (green frame: scored correct, red: wrong)\n\n![" << name << "]("
      << section["grids"][name].get<std::string>() << ")\n\n";
}

// The first `kMistakesShown` wrong answers of `section`, as a table of `columns`.
constexpr int kMistakesShown = 12;
void Mistakes(std::ostream& out, const Json& section, const std::vector<std::string>& columns) {
  if (!section.contains("mistakes") || section["mistakes"].empty()) return;
  const Json& mistakes = section["mistakes"];
  out << "Wrong answers: the first " << std::min<size_t>(kMistakesShown, mistakes.size()) << " of "
      << mistakes.size() << " (all in results.json).\n\n|";
  for (const std::string& c : columns) out << " " << c << " |";
  out << "\n|";
  for (size_t i = 0; i < columns.size(); ++i) out << "---|";
  out << "\n";
  for (size_t i = 0; i < mistakes.size() && i < kMistakesShown; ++i) {
    out << "|";
    for (const std::string& c : columns) {
      const std::string text = mistakes[i].value(c, "");
      out << " " << (text.empty() ? "(empty)" : MarkdownCell(text)) << " |";
    }
    out << "\n";
  }
  out << "\n";
}

void ShapesSection(std::ostream& out, const Json& s) {
  out << "## Shapes\n\n";
  RunLine(out, s);
  if (s.contains("text_to_image")) {
    out << "### Text-to-image (GenEval-style)\n\n";
    AccuracyTable(out, "category", s["text_to_image"]["categories"]);
    out << "Overall (mean of the categories): **"
        << Fixed(s["text_to_image"]["overall"].get<double>()) << "**\n\n";
    if (s["text_to_image"].contains("placement")) {
      const Json& p = s["text_to_image"]["placement"];
      out << "Objects the prompts place in a cell (" << p["objects"].get<int>()
          << "): one of that shape and colour drawn " << Fixed(p["found"].get<double>())
          << ", in the right row " << Fixed(p["row"].get<double>()) << ", in the right column "
          << Fixed(p["column"].get<double>()) << ".\n\n";
    }
    for (const auto& category : s["text_to_image"]["categories"].items()) {
      Grid(out, s, category.key());
    }
  }
  if (s.contains("captioning")) {
    const Json& c = s["captioning"];
    out << "### Captioning\n\n| metric | value |\n|---|---|\n";
    for (const char* key : {"exact_match", "parsed", "count", "shape", "color", "position"}) {
      out << "| " << key << " | " << Fixed(c[key].get<double>()) << " |\n";
    }
    out << "\nOver " << c["images"].get<int>() << " images, " << c["objects"].get<int>()
        << " objects (shape, color, position: per object).\n\n";
    Mistakes(out, c, {"expected", "got"});
  }
  if (s.contains("chat")) {
    out << "### Chat\n\nAccuracy **" << Fixed(s["chat"]["accuracy"].get<double>()) << "**\n\n";
    AccuracyTable(out, "question", s["chat"]["kinds"]);
    Mistakes(out, s["chat"], {"image", "question", "expected", "got"});
  }
  if (s.contains("edits")) {
    out << "### Edits\n\nAccuracy **" << Fixed(s["edits"]["accuracy"].get<double>()) << "**\n\n";
    AccuracyTable(out, "edit", s["edits"]["kinds"]);
    Grid(out, s, "edits");
  }
}

void EmojiSection(std::ostream& out, const Json& e) {
  out << "## Emoji\n\n";
  RunLine(out, e);
  out << "| metric | value | correct / total |\n|---|---|---|\n";
  auto row = [&](const char* name, const Json& a) {
    out << "| " << name << " | " << Fixed(a["accuracy"].get<double>()) << " | "
        << a["correct"].get<int>() << " / " << a["total"].get<int>() << " |\n";
  };
  row("retrieval top-1", e["retrieval"]["top1"]);
  row("retrieval top-5", e["retrieval"]["top5"]);
  row("caption exact match", e["caption_exact_match"]);
  out << "\nRetrieval candidates: all " << e["dataset_size"].get<int>()
      << " dataset images. Grid labels: name -> nearest dataset image's name.\n\n";
  Grid(out, e, "samples");
}

void TextSection(std::ostream& out, const Json& t) {
  out << "## Text\n\n";
  RunLine(out, t);
  out << "Perplexity **" << absl::StrFormat("%.2f", t["perplexity"].get<double>()) << "** ("
      << Fixed(t["mean_nll"].get<double>()) << " nats per token) over "
      << t["tokens"].get<int64_t>() << " tokens: the last " << t["lines"].get<int>()
      << " lines of `" << t["source"].get<std::string>() << "`.\n\n";
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReportWriter>> ReportWriter::Open(const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", out_dir, ": ", ec.message()));
  const std::string path = out_dir + "/" + kResultsFile;
  Json results = Json::object();
  if (std::ifstream in(path); in) {
    std::stringstream text;
    text << in.rdbuf();
    results = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (results.is_discarded() || !results.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
    }
  }
  return std::unique_ptr<ReportWriter>(new ReportWriter(out_dir, std::move(results)));
}

absl::Status ReportWriter::SetSection(const std::string& name, Json results, const Json& run,
                                      const std::vector<SampleGrid>& grids) {
  results["run"] = run;
  Json files = Json::object();
  for (const SampleGrid& grid : grids) {
    if (grid.cells.empty()) continue;
    const std::string file = absl::StrCat(name, "_", grid.name, ".png");
    RETURN_IF_ERROR(WriteImageFile(out_dir_ + "/" + file, DrawGrid(grid.cells)));
    files[grid.name] = file;
  }
  results["grids"] = std::move(files);
  results_[name] = std::move(results);
  return absl::OkStatus();
}

absl::Status ReportWriter::Write() const {
  RETURN_IF_ERROR(WriteFile(out_dir_ + "/" + kResultsFile, results_.dump(2) + "\n"));
  return WriteFile(out_dir_ + "/" + kReportFile, RenderReport(results_));
}

std::string RenderReport(const Json& results) {
  std::ostringstream out;
  out << "# Evaluation\n\nWritten by `infusion-eval` from `results.json`; "
         "docs/evaluation.md says what each number measures.\n\n";
  const std::vector<Target> targets = Targets(results);
  if (!targets.empty()) {
    out << "## Targets (issue 7)\n\n| target | value | threshold | met |\n|---|---|---|---|\n";
    for (const Target& t : targets) {
      const bool met = t.value && *t.value >= t.threshold;
      out << "| " << t.what << " | " << (t.value ? Fixed(*t.value) : "–") << " | ≥ "
          << absl::StrFormat("%.2f", t.threshold) << " | " << (met ? "yes" : "no") << " |\n";
    }
    out << "\n";
  }
  if (results.contains("shapes")) ShapesSection(out, results["shapes"]);
  if (results.contains("emoji")) EmojiSection(out, results["emoji"]);
  if (results.contains("text")) TextSection(out, results["text"]);
  return out.str();
}

}  // namespace infusion::eval
