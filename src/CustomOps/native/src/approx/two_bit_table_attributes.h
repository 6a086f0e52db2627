// Which 2-bit step table a ReGelu2/ReSilu2 node and its gradient use, read from their attributes
// (the forward op needs the thresholds, the gradient the levels; both ops of a pair carry the same
// attributes):
//   table = "yang2024"   the paper's table (default);
//   table = "few-bit"    Few-Bit Backward's derivative-fitted GELU table (ReGelu2 only);
//   table = "calibrated" thresholds (3 floats, strictly increasing, in units of x) and levels
//                        (4 floats) fitted to one layer's own pre-activation distribution
//                        (the rewriter's calibration writes them, see StepTableFit.cs).
// The published ReSiLU2 table is in units of alpha * x (its thresholds are divided by alpha); a
// calibrated one is fitted to x itself, so it is used as it stands.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "onnxmemopt/kernel_attributes.h"
#include "two_bit_tables.h"

namespace onnxmemopt::approx {

// A step table and the divisor its thresholds take (alpha for the published SiLU table, else 1).
struct ChosenTable {
  StepTable table;
  double threshold_divisor;
};

inline std::vector<float> RequiredFloats(const OrtKernelInfo* info, const char* op, const char* name, size_t count) {
  std::optional<std::vector<float>> values = OptionalFloatsAttr(info, name);
  if (!values || values->size() != count) {
    throw Ort::Exception(std::string(op) + ": table \"calibrated\" needs attribute " + name + " with " +
                             std::to_string(count) + " floats",
                         ORT_INVALID_ARGUMENT);
  }
  for (float v : *values) {
    if (!std::isfinite(v)) throw Ort::Exception(std::string(op) + ": attribute " + name + " holds a non-finite value", ORT_INVALID_ARGUMENT);
  }
  return *values;
}

// The thresholds must increase strictly: code(x) counts how many lie below x, which names an
// interval only when they are ordered.
inline StepTable CalibratedTable(const OrtKernelInfo* info, const char* op) {
  const std::vector<float> thresholds = RequiredFloats(info, op, "thresholds", 3);
  const std::vector<float> levels = RequiredFloats(info, op, "levels", 4);
  if (!(thresholds[0] < thresholds[1] && thresholds[1] < thresholds[2])) {
    throw Ort::Exception(std::string(op) + ": attribute thresholds must increase strictly", ORT_INVALID_ARGUMENT);
  }
  StepTable table{};
  for (int i = 0; i < 3; ++i) table.thresholds[i] = thresholds[i];
  for (int i = 0; i < 4; ++i) table.levels[i] = levels[i];
  return table;
}

inline ChosenTable GeluTableFrom(const OrtKernelInfo* info) {
  const std::string name = StringAttr(info, "table", "yang2024");
  if (name == "yang2024") return {kReGelu2Table, 1.0};
  if (name == "few-bit") return {kFewBitGelu2Table, 1.0};
  if (name == "calibrated") return {CalibratedTable(info, "ReGelu2"), 1.0};
  throw Ort::Exception("ReGelu2: attribute table must be \"yang2024\", \"few-bit\" or \"calibrated\", got \"" + name + "\"",
                       ORT_INVALID_ARGUMENT);
}

inline ChosenTable SiluTableFrom(const OrtKernelInfo* info, double alpha) {
  const std::string name = StringAttr(info, "table", "yang2024");
  if (name == "yang2024") return {kReSilu2Table, alpha};
  if (name == "calibrated") return {CalibratedTable(info, "ReSilu2"), 1.0};
  throw Ort::Exception("ReSilu2: attribute table must be \"yang2024\" or \"calibrated\", got \"" + name + "\"",
                       ORT_INVALID_ARGUMENT);
}

}  // namespace onnxmemopt::approx
