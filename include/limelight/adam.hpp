// Adam with PyTorch's semantics: coupled weight decay (l2 added to the
// gradient), bias corrections computed in double, float32 tensor arithmetic.
//
// Dense parameters are updated whole, exactly as torch.optim.Adam. Sparse
// parameters (row-sparse gradients) get the lazy update of
// torch.optim.SparseAdam: only the rows a step touched move, and their
// moments decay only when touched; the step count is shared. This is a
// documented divergence from dense Adam that makes a step's cost independent
// of the catalogue size.
#pragma once

#include <cstdint>
#include <vector>

#include "limelight/tape.hpp"

namespace limelight {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class Adam {
 public:
  Adam(std::vector<Parameter*> params, AdamOptions options);
  void zero_grad();
  void step();
  std::int64_t steps() const { return steps_; }
  const AdamOptions& options() const { return options_; }
  // Moment buffers of parameter i (in construction order).
  const Tensor& exp_avg(std::size_t i) const { return exp_avg_[i]; }
  const Tensor& exp_avg_sq(std::size_t i) const { return exp_avg_sq_[i]; }
  // Continues from saved state: the step count and every parameter's moments
  // (construction order). Error naming the parameter on a shape mismatch.
  void restore(std::int64_t steps, const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq);

 private:
  std::vector<Parameter*> params_;
  AdamOptions options_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  std::int64_t steps_ = 0;
};

}  // namespace limelight
