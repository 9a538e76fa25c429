// The one list of op test cases, shared by the backend comparison
// (test_backend_ops.cpp) and the double-precision gradient checks
// (test_gradcheck_double.cpp), in the manner of ggml's test-backend-ops.
//
// A case is one op on fixed inputs: the float inputs (every one of them
// differentiable), the constant id / mask tensors, how to build the op on a
// tape, and a plain double-precision reference of its forward written from
// the formulas documented in include/limelight/ops.hpp. The reference is
// independent of the library: simple loops, no shared code with src/.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "limelight/ops.hpp"
#include "limelight/random.hpp"

namespace op_cases {

using Values = std::vector<double>;

// For a sequence_loss case: each unmasked position's positive score and its
// negative scores, in double, so that tests can keep away from the hinge's
// kinks and the adaptive maximum's ties.
struct LossScores {
  std::vector<double> positive;                // per unmasked position
  std::vector<std::vector<double>> negatives;  // per unmasked position, N each
};

// Input elements [begin, begin + count) of input `input` whose gradient must
// be exactly zero by definition (the padding row 0 of a table), whatever the
// forward's dependence on them says.
struct ZeroGradient {
  std::size_t input;
  std::int64_t begin, count;
};

struct Case {
  using Build = std::function<limelight::Var(limelight::Tape&, const std::vector<limelight::Var>&,
                                             const std::vector<limelight::Tensor>&)>;
  using Reference = std::function<std::vector<double>(const std::vector<std::vector<double>>&)>;
  Case(std::string name_, std::string family_, std::vector<limelight::Tensor> inputs_,
       std::vector<limelight::Tensor> constants_, Build build_, Reference reference_,
       std::vector<ZeroGradient> zero_gradient_ = {})
      : name(std::move(name_)), family(std::move(family_)), inputs(std::move(inputs_)),
        constants(std::move(constants_)), build(std::move(build_)), reference(std::move(reference_)),
        zero_gradient(std::move(zero_gradient_)) {}

  std::string name;
  std::string family;  // the op, for counting coverage ("lstm", "sequence_loss", ...)
  std::vector<limelight::Tensor> inputs;     // f32, host, all differentiable
  std::vector<limelight::Tensor> constants;  // ids (i32) and masks (f32), host
  // Builds the op from the tape's variables of `inputs` and the constants
  // (already on the tape's device).
  Build build;
  // The double-precision forward of the inputs (flattened like the tensors),
  // the output flattened row-major.
  Reference reference;
  std::vector<ZeroGradient> zero_gradient;
  // Elements where the op is not differentiable (a kink or a tie): no finite
  // difference is taken there. Null: none.
  std::function<bool(std::size_t input, std::int64_t element)> at_kink;
  // sequence_loss cases only: the loss kind and the reference scores.
  limelight::ops::LossKind loss_kind = limelight::ops::LossKind::pointwise;
  std::function<LossScores(const std::vector<Values>&)> loss_scores;
};

// Every case, in a fixed order, from fixed seeds.
const std::vector<Case>& all_cases();

// The fixed random weighting of a case's output (a plain sum would hide
// transposed or permuted gradients): the same weights for every run of a case.
std::vector<float> output_weights(const std::string& case_name, std::int64_t numel);

}  // namespace op_cases
