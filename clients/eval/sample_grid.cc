#include "clients/eval/sample_grid.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/logging.h"

// A header of static functions, some of which this file does not call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace infusion::eval {

using engine::Image;

namespace {

constexpr int kLineHeight = 12;  // stb_easy_font's glyphs are 7 px high, descenders included 9
constexpr int kFrame = 3;        // width of the green / red frame
constexpr int kGap = 6;          // between cells and around the grid

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kText = {0, 0, 0};
constexpr Rgb kCorrect = {40, 170, 60};
constexpr Rgb kWrong = {220, 40, 40};
constexpr Rgb kUnscored = {200, 200, 200};

// stb_easy_font reads characters 32..126 only; anything else would index past its tables.
std::string PrintableAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c < 32 || c > 126) c = '?';
  }
  return out;
}

int TextWidth(const std::string& text) {
  std::string copy = text;  // stb_easy_font takes a mutable pointer but does not write
  return stb_easy_font_width(copy.data());
}

class Canvas {
 public:
  Canvas(int width, int height) {
    image_.width = width;
    image_.height = height;
    image_.rgb.assign(static_cast<size_t>(width) * height * 3, 255);
  }

  // Fills [x0, x1) x [y0, y1), clipped to the canvas.
  void Fill(int x0, int y0, int x1, int y1, Rgb c) {
    x0 = std::max(x0, 0), y0 = std::max(y0, 0);
    x1 = std::min(x1, image_.width), y1 = std::min(y1, image_.height);
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) Set(x, y, c);
    }
  }

  // `src` enlarged `scale` times with its top left corner at (x, y).
  void Blit(const Image& src, int x, int y, int scale) {
    for (int sy = 0; sy < src.height * scale; ++sy) {
      for (int sx = 0; sx < src.width * scale; ++sx) {
        const uint8_t* p = &src.rgb[(static_cast<size_t>(sy / scale) * src.width + sx / scale) * 3];
        Set(x + sx, y + sy, {p[0], p[1], p[2]});
      }
    }
  }

  // One line of text with its top left corner at (x, y), clipped to rows below `max_y`.
  void Print(const std::string& text, int x, int y, int max_y) {
    std::string line = text;
    std::vector<char> vertices(line.size() * 300 + 64);  // ~270 bytes a character (stb's own note)
    const int quads =
        stb_easy_font_print(static_cast<float>(x), static_cast<float>(y), line.data(), nullptr,
                            vertices.data(), static_cast<int>(vertices.size()));
    constexpr int kVertexBytes = 16;  // x, y, z as floats, then RGBA
    for (int q = 0; q < quads; ++q) {
      float top_left[2], bottom_right[2];
      std::memcpy(top_left, &vertices[(q * 4 + 0) * kVertexBytes], sizeof(top_left));
      std::memcpy(bottom_right, &vertices[(q * 4 + 2) * kVertexBytes], sizeof(bottom_right));
      Fill(static_cast<int>(top_left[0]), static_cast<int>(top_left[1]),
           static_cast<int>(bottom_right[0]), std::min(static_cast<int>(bottom_right[1]), max_y),
           kText);
    }
  }

  Image Take() { return std::move(image_); }

 private:
  void Set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return;
    uint8_t* p = &image_.rgb[(static_cast<size_t>(y) * image_.width + x) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }

  Image image_;
};

}  // namespace

std::vector<std::string> WrapText(const std::string& text, int max_width) {
  std::vector<std::string> lines;
  std::string line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    std::string candidate = line.empty() ? std::string(word) : line + " " + std::string(word);
    if (!line.empty() && TextWidth(PrintableAscii(candidate)) > max_width) {
      lines.push_back(std::move(line));
      candidate = std::string(word);
    }
    line = std::move(candidate);
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

Image DrawGrid(const std::vector<GridCell>& cells, const GridLayout& layout) {
  CHECK(!cells.empty()) << "a grid needs cells";
  const int w = cells[0].image.width, h = cells[0].image.height;
  const int scale = std::max(1, (layout.min_cell_width + w - 1) / w);
  const int cell_width = w * scale + 2 * kFrame;
  const int label_top = h * scale + 2 * kFrame + 3;
  const int cell_height = label_top + layout.label_lines * kLineHeight;
  const int columns = std::min<int>(layout.columns, static_cast<int>(cells.size()));
  const int rows = (static_cast<int>(cells.size()) + columns - 1) / columns;

  Canvas canvas(kGap + columns * (cell_width + kGap), kGap + rows * (cell_height + kGap));
  for (size_t i = 0; i < cells.size(); ++i) {
    const GridCell& cell = cells[i];
    CHECK(cell.image.width == w && cell.image.height == h) << "grid cells differ in size";
    const int x = kGap + static_cast<int>(i % columns) * (cell_width + kGap);
    const int y = kGap + static_cast<int>(i / columns) * (cell_height + kGap);
    const Rgb frame = !cell.correct ? kUnscored : *cell.correct ? kCorrect : kWrong;
    canvas.Fill(x, y, x + cell_width, y + h * scale + 2 * kFrame, frame);
    canvas.Blit(cell.image, x + kFrame, y + kFrame, scale);
    const std::vector<std::string> lines = WrapText(PrintableAscii(cell.label), cell_width);
    const int label_bottom = y + cell_height;
    for (int l = 0; l < std::min<int>(layout.label_lines, static_cast<int>(lines.size())); ++l) {
      canvas.Print(lines[l], x, y + label_top + l * kLineHeight, label_bottom);
    }
  }
  return canvas.Take();
}

}  // namespace infusion::eval
