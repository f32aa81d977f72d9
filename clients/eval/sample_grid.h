// Sample grids of the evaluation report: generated images in rows, each enlarged (nearest
// neighbour, so that single pixels stay visible), framed green when it was scored correct and red
// when not, with its prompt printed under it (stb_easy_font, ASCII).
#ifndef INFUSION_CLIENTS_EVAL_SAMPLE_GRID_H_
#define INFUSION_CLIENTS_EVAL_SAMPLE_GRID_H_

#include <optional>
#include <string>
#include <vector>

#include "engine/codec/image.h"

namespace infusion::eval {

struct GridCell {
  engine::Image image;          // every cell of a grid has the same size
  std::string label;            // word-wrapped under the image; lines past label_lines dropped
  std::optional<bool> correct;  // frames the image green (true) or red (false) when set
};

// A named grid; the report writes it to `<benchmark>_<name>.png`.
struct SampleGrid {
  std::string name;
  std::vector<GridCell> cells;
};

struct GridLayout {
  int columns = 4;
  int min_cell_width = 128;  // images are enlarged by the integer factor that reaches this width
  int label_lines = 6;       // a caption of three placed objects takes six lines at 128 px
};

// `cells` must be non-empty with images of one size.
engine::Image DrawGrid(const std::vector<GridCell>& cells, const GridLayout& layout = {});

// `text` broken at spaces into lines of at most `max_width` pixels of stb_easy_font; a word
// wider than a line gets a line of its own.
std::vector<std::string> WrapText(const std::string& text, int max_width);

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_SAMPLE_GRID_H_
