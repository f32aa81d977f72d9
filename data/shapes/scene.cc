#include "data/shapes/scene.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion::data::shapes {
namespace {

constexpr std::array<const char*, 3> kShapeNames = {"circle", "square", "triangle"};
constexpr std::array<const char*, 3> kShapePluralNames = {"circles", "squares", "triangles"};
constexpr std::array<const char*, 6> kColorNames = {"red",    "green",  "blue",
                                                    "yellow", "purple", "orange"};
constexpr std::array<Rgb, 6> kPalette = {
    {{220, 40, 40}, {40, 170, 60}, {40, 80, 220}, {240, 200, 30}, {140, 60, 180}, {245, 130, 30}}};
// Indexed by row * kGridSize + col.
constexpr std::array<const char*, 9> kCellNames = {"top left",    "top center",    "top right",
                                                   "middle left", "center",        "middle right",
                                                   "bottom left", "bottom center", "bottom right"};
constexpr std::array<const char*, 4> kRelationNames = {"left of", "right of", "above", "below"};
constexpr std::array<const char*, 3> kNumberNames = {"one", "two", "three"};

template <typename Enum>
size_t Index(Enum value) {
  return static_cast<size_t>(value);
}

int CellIndex(Cell cell) { return cell.row * kGridSize + cell.col; }

bool InGrid(Cell cell) {
  return cell.row >= 0 && cell.row < kGridSize && cell.col >= 0 && cell.col < kGridSize;
}

template <size_t N>
absl::StatusOr<size_t> FindName(const std::array<const char*, N>& names, std::string_view name,
                                const char* what) {
  const auto it = std::find_if(names.begin(), names.end(),
                               [&](const char* candidate) { return candidate == name; });
  if (it == names.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown ", what, " \"", std::string(name), "\""));
  }
  return static_cast<size_t>(it - names.begin());
}

absl::Status OutOfRange(size_t index, const char* field, int value, int lo, int hi) {
  return absl::InvalidArgumentError(absl::StrCat("objects[", index, "].", field, " = ", value,
                                                 " is outside [", lo, ", ", hi, "]"));
}

}  // namespace

Rgb ColorRgb(Color color) { return kPalette[Index(color)]; }

std::string ShapeName(Shape shape) { return kShapeNames[Index(shape)]; }
std::string ShapePluralName(Shape shape) { return kShapePluralNames[Index(shape)]; }
std::string ColorName(Color color) { return kColorNames[Index(color)]; }

absl::StatusOr<Shape> ShapeFromName(std::string_view name) {
  auto index = FindName(kShapeNames, name, "shape");
  if (!index.ok()) return index.status();
  return static_cast<Shape>(*index);
}

absl::StatusOr<Color> ColorFromName(std::string_view name) {
  auto index = FindName(kColorNames, name, "color");
  if (!index.ok()) return index.status();
  return static_cast<Color>(*index);
}

std::string ObjectName(Shape shape, Color color) {
  return absl::StrCat(ColorName(color), " ", ShapeName(shape));
}

std::string IndefiniteObjectName(Shape shape, Color color) {
  const bool vowel = std::string("aeiou").find(ColorName(color)[0]) != std::string::npos;
  return absl::StrCat(vowel ? "an " : "a ", ObjectName(shape, color));
}

std::string NumberName(int n) {
  CHECK(n >= 1 && n <= static_cast<int>(kNumberNames.size())) << "no name for " << n;
  return kNumberNames[n - 1];
}

std::string CellName(Cell cell) {
  CHECK(InGrid(cell)) << "cell (" << cell.row << ", " << cell.col << ") is off the grid";
  return kCellNames[CellIndex(cell)];
}

absl::StatusOr<Cell> CellFromName(std::string_view name) {
  auto index = FindName(kCellNames, name, "cell");
  if (!index.ok()) return index.status();
  return kAllCells[*index];
}

std::string RelationName(Relation relation) { return kRelationNames[Index(relation)]; }

bool Holds(Relation relation, Cell a, Cell b) {
  switch (relation) {
    case Relation::kLeftOf:
      return a.col < b.col;
    case Relation::kRightOf:
      return a.col > b.col;
    case Relation::kAbove:
      return a.row < b.row;
    case Relation::kBelow:
      return a.row > b.row;
  }
  return false;
}

int MaxJitter(int size) {
  // The box starts (kCellSize - size) / 2 + jitter pixels into its cell and must end before the
  // cell's last pixel.
  return std::min(kMaxJitter, kCellSize - 1 - size - (kCellSize - size) / 2);
}

absl::Status ValidateScene(const Scene& scene) {
  const size_t n = scene.objects.size();
  if (n < 1 || n > kMaxObjects) {
    return absl::InvalidArgumentError(
        absl::StrCat("a scene has 1 to ", kMaxObjects, " objects, got ", n));
  }
  for (size_t i = 0; i < n; ++i) {
    const Object& object = scene.objects[i];
    if (!InGrid(object.cell)) {
      return absl::InvalidArgumentError(absl::StrCat("objects[", i, "].cell (", object.cell.row,
                                                     ", ", object.cell.col, ") is off the grid"));
    }
    if (object.size < kMinObjectSize || object.size > kMaxObjectSize) {
      return OutOfRange(i, "size", object.size, kMinObjectSize, kMaxObjectSize);
    }
    const int max_jitter = MaxJitter(object.size);
    if (object.dx < -kMaxJitter || object.dx > max_jitter) {
      return OutOfRange(i, "dx", object.dx, -kMaxJitter, max_jitter);
    }
    if (object.dy < -kMaxJitter || object.dy > max_jitter) {
      return OutOfRange(i, "dy", object.dy, -kMaxJitter, max_jitter);
    }
    for (size_t j = 0; j < i; ++j) {
      if (scene.objects[j].cell == object.cell) {
        return absl::InvalidArgumentError(absl::StrCat(
            "objects[", j, "] and objects[", i, "] share the ", CellName(object.cell), " cell"));
      }
    }
  }
  return absl::OkStatus();
}

bool operator==(const ObjectLabel& a, const ObjectLabel& b) {
  return a.shape == b.shape && a.color == b.color && a.cell == b.cell;
}

bool operator<(const ObjectLabel& a, const ObjectLabel& b) {
  return std::make_tuple(CellIndex(a.cell), a.shape, a.color) <
         std::make_tuple(CellIndex(b.cell), b.shape, b.color);
}

std::vector<ObjectLabel> Labels(const Scene& scene) {
  std::vector<ObjectLabel> labels;
  labels.reserve(scene.objects.size());
  for (const Object& object : scene.objects) {
    labels.push_back({object.shape, object.color, object.cell});
  }
  std::sort(labels.begin(), labels.end());
  return labels;
}

}  // namespace infusion::data::shapes
