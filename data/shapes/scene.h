// The vocabulary of the synthetic shapes world (shared/docs/shapes.md): shapes, colours, the 3×3
// grid of cells, relations between cells, and scenes of one to three objects, with the English
// names every caption, question and edit is written in.
#ifndef INFUSION_DATA_SHAPES_SCENE_H_
#define INFUSION_DATA_SHAPES_SCENE_H_

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/shapes/rgb_image.h"

namespace infusion::data::shapes {

inline constexpr int kImageSize = 64;  // width and height in pixels
inline constexpr int kGridSize = 3;    // cells per row and per column
inline constexpr int kCellSize = 21;   // pixels; the grid leaves the last pixel row/column empty
inline constexpr int kMinObjectSize = 12;
inline constexpr int kMaxObjectSize = 17;
inline constexpr int kMaxJitter = 2;
inline constexpr int kMaxObjects = 3;

enum class Shape { kCircle, kSquare, kTriangle };
inline constexpr std::array<Shape, 3> kAllShapes = {Shape::kCircle, Shape::kSquare,
                                                    Shape::kTriangle};

enum class Color { kRed, kGreen, kBlue, kYellow, kPurple, kOrange };
inline constexpr std::array<Color, 6> kAllColors = {Color::kRed,    Color::kGreen,  Color::kBlue,
                                                    Color::kYellow, Color::kPurple, Color::kOrange};

inline constexpr Rgb kBackground = {255, 255, 255};

// The exact palette: red (220, 40, 40), green (40, 170, 60), blue (40, 80, 220),
// yellow (240, 200, 30), purple (140, 60, 180), orange (245, 130, 30).
Rgb ColorRgb(Color color);

std::string ShapeName(Shape shape);        // "circle"
std::string ShapePluralName(Shape shape);  // "circles"
std::string ColorName(Color color);        // "red"
// Inverses of ShapeName (singular only) and ColorName; InvalidArgument for any other word.
absl::StatusOr<Shape> ShapeFromName(std::string_view name);
absl::StatusOr<Color> ColorFromName(std::string_view name);

// "red circle".
std::string ObjectName(Shape shape, Color color);
// "a red circle", "an orange square": the article follows the colour word.
std::string IndefiniteObjectName(Shape shape, Color color);

// "one", "two", "three" for n in [1, 3].
std::string NumberName(int n);

// A cell of the grid; row 0 is the top, col 0 the left. Cells order in reading order.
struct Cell {
  int row = 0;
  int col = 0;
};
inline bool operator==(const Cell& a, const Cell& b) { return a.row == b.row && a.col == b.col; }
inline bool operator!=(const Cell& a, const Cell& b) { return !(a == b); }
inline bool operator<(const Cell& a, const Cell& b) {
  return a.row != b.row ? a.row < b.row : a.col < b.col;
}

// The nine cells in reading order.
inline constexpr std::array<Cell, 9> kAllCells = {Cell{0, 0}, Cell{0, 1}, Cell{0, 2},
                                                  Cell{1, 0}, Cell{1, 1}, Cell{1, 2},
                                                  Cell{2, 0}, Cell{2, 1}, Cell{2, 2}};

// "top left", "top center", …, "middle left", "center", "middle right", …, "bottom right".
std::string CellName(Cell cell);
// Inverse of CellName; "middle center" is not a name (the middle cell is "center").
absl::StatusOr<Cell> CellFromName(std::string_view name);

// A relation between the cells of two objects, true of their columns (left of, right of) or rows
// (above, below): "a red circle left of a blue square" holds when the circle's column is smaller.
enum class Relation { kLeftOf, kRightOf, kAbove, kBelow };
inline constexpr std::array<Relation, 4> kAllRelations = {Relation::kLeftOf, Relation::kRightOf,
                                                          Relation::kAbove, Relation::kBelow};
std::string RelationName(Relation relation);  // "left of", "right of", "above", "below"
// Whether `a relation b` is true.
bool Holds(Relation relation, Cell a, Cell b);

// One drawn object. Its shape fills a size×size box, centred in its cell and moved by the jitter
// (see geometry.h for the pixels).
struct Object {
  Shape shape = Shape::kCircle;
  Color color = Color::kRed;
  Cell cell;
  int size = kMinObjectSize;  // in [kMinObjectSize, kMaxObjectSize]
  int dx = 0;                 // jitter in pixels, each in [-kMaxJitter, MaxJitter(size)]
  int dy = 0;
};

// The largest positive jitter of an object of `size`: kMaxJitter, except 1 for size 17. An object
// never reaches the last pixel row or column of its cell, so at least one background pixel lies
// between objects in neighbouring cells and each object is its own connected component, which
// is what lets the detector find exactly the drawn objects.
int MaxJitter(int size);

struct Scene {
  std::vector<Object> objects;
};

// OK when the scene has 1 to 3 objects in distinct cells, each with a size and jitter in range;
// otherwise InvalidArgument naming the offending field.
absl::Status ValidateScene(const Scene& scene);

// An object as text and the detector see it: what it is and in which cell, not its exact pixels.
struct ObjectLabel {
  Shape shape = Shape::kCircle;
  Color color = Color::kRed;
  Cell cell;
};
bool operator==(const ObjectLabel& a, const ObjectLabel& b);
inline bool operator!=(const ObjectLabel& a, const ObjectLabel& b) { return !(a == b); }
// Reading order of the cells, then shape, then colour.
bool operator<(const ObjectLabel& a, const ObjectLabel& b);

// The labels of a scene's objects, sorted (so in reading order of their cells).
std::vector<ObjectLabel> Labels(const Scene& scene);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_SCENE_H_
