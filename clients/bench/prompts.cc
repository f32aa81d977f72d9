#include "clients/bench/prompts.h"

namespace infusion::bench {
namespace {

const char* const kColors[] = {"red", "green", "blue", "yellow", "purple", "orange"};
const char* const kShapes[] = {"circle", "square", "triangle"};
const char* const kCells[] = {"top left",    "top center",    "top right",
                              "middle left", "center",        "middle right",
                              "bottom left", "bottom center", "bottom right"};

}  // namespace

std::string ChatPrompt(int index) {
  return std::string("describe a scene with a ") + kColors[index % 6] + " " +
         kShapes[(index / 6) % 3] + " at the " + kCells[(index / 18) % 9] +
         " and tell me what else could be there.";
}

std::string ImagePrompt(int index) {
  return std::string("a ") + kColors[index % 6] + " " + kShapes[(index / 6) % 3] + " at the " +
         kCells[(index / 18) % 9];
}

}  // namespace infusion::bench
