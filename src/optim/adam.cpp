// Adam, dense and lazy-sparse, following PyTorch 1.13's single-tensor CPU
// implementation operation by operation so that results match to rounding.
#include "limelight/adam.hpp"

#include <cmath>

namespace limelight {

Adam::Adam(std::vector<Parameter*> params, AdamOptions options) : params_(std::move(params)), options_(options) {
  LL_CHECK(options_.lr >= 0.0, "Adam: learning rate must be >= 0, got ", options_.lr);
  LL_CHECK(options_.beta1 >= 0.0 && options_.beta1 < 1.0 && options_.beta2 >= 0.0 && options_.beta2 < 1.0,
           "Adam: betas must lie in [0, 1), got ", options_.beta1, ", ", options_.beta2);
  LL_CHECK(options_.weight_decay >= 0.0, "Adam: weight decay (l2) must be >= 0, got ", options_.weight_decay);
  for (Parameter* p : params_) {
    exp_avg_.push_back(Tensor::zeros(p->value.shape()));
    exp_avg_sq_.push_back(Tensor::zeros(p->value.shape()));
  }
}

void Adam::zero_grad() {
  for (Parameter* p : params_) p->zero_grad();
}

namespace {
// One element of PyTorch's update; the float casts mirror its scalar handling.
inline void adam_element(float& p, float g, float& m, float& v, float beta1, float beta2, float one_minus_beta1,
                         float one_minus_beta2, float wd, float neg_step_size, double bias_correction2_sqrt,
                         float eps) {
  if (wd != 0.0f) g = g + wd * p;
  m = m * beta1 + one_minus_beta1 * g;
  v = v * beta2 + one_minus_beta2 * g * g;
  const float denom = std::sqrt(v) / static_cast<float>(bias_correction2_sqrt) + eps;
  p = p + neg_step_size * m / denom;
}
}  // namespace

void Adam::step() {
  ++steps_;
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  const float neg_step_size = static_cast<float>(-(options_.lr / bias_correction1));
  const double bc2_sqrt = std::sqrt(bias_correction2);
  const float beta1 = static_cast<float>(options_.beta1), beta2 = static_cast<float>(options_.beta2);
  const float omb1 = static_cast<float>(1.0 - options_.beta1), omb2 = static_cast<float>(1.0 - options_.beta2);
  const float wd = static_cast<float>(options_.weight_decay), eps = static_cast<float>(options_.eps);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    float* w = p.value.f32();
    float* m = exp_avg_[i].f32();
    float* v = exp_avg_sq_[i].f32();
    if (p.sparse) {
      const std::int64_t D = p.sparse_grad.row_size();
      const auto& rows = p.sparse_grad.rows();
      const float* g = p.sparse_grad.values();
      for (std::size_t r = 0; r < rows.size(); ++r) {
        const std::int64_t base = static_cast<std::int64_t>(rows[r]) * D;
        for (std::int64_t d = 0; d < D; ++d)
          adam_element(w[base + d], g[static_cast<std::int64_t>(r) * D + d], m[base + d], v[base + d], beta1, beta2,
                       omb1, omb2, wd, neg_step_size, bc2_sqrt, eps);
      }
    } else {
      const float* g = p.grad.f32();
      const std::int64_t n = p.value.numel();
      for (std::int64_t k = 0; k < n; ++k)
        adam_element(w[k], g[k], m[k], v[k], beta1, beta2, omb1, omb2, wd, neg_step_size, bc2_sqrt, eps);
    }
  }
}

}  // namespace limelight
