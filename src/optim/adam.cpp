// Adam, dense and lazy-sparse: the moments live beside each parameter, on its
// device; the update itself is the backend's (PyTorch 1.13's arithmetic).
#include "limelight/adam.hpp"

#include "backend/backend.hpp"

namespace limelight {

Adam::Adam(std::vector<Parameter*> params, AdamOptions options) : params_(std::move(params)), options_(options) {
  LL_CHECK(options_.lr >= 0.0, "Adam: learning rate must be >= 0, got ", options_.lr);
  LL_CHECK(options_.beta1 >= 0.0 && options_.beta1 < 1.0 && options_.beta2 >= 0.0 && options_.beta2 < 1.0,
           "Adam: betas must lie in [0, 1), got ", options_.beta1, ", ", options_.beta2);
  LL_CHECK(options_.weight_decay >= 0.0, "Adam: weight decay (l2) must be >= 0, got ", options_.weight_decay);
  for (Parameter* p : params_) {
    exp_avg_.push_back(Tensor::zeros(p->value.shape(), DType::f32, p->value.device()));
    exp_avg_sq_.push_back(Tensor::zeros(p->value.shape(), DType::f32, p->value.device()));
  }
}

void Adam::zero_grad() {
  for (Parameter* p : params_) p->zero_grad();
}

void Adam::step() {
  ++steps_;
  const auto c = backend::AdamStep::make(options_.lr, options_.beta1, options_.beta2, options_.eps,
                                         options_.weight_decay, steps_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    backend::Backend& be = backend::get(p.value.device());
    if (p.sparse)
      be.adam_lazy(c, p.value.f32(), exp_avg_[i].f32(), exp_avg_sq_[i].f32(), p.sparse_grad.row_size(), p.sparse_grad);
    else
      be.adam_dense(c, p.value.f32(), p.grad.f32(), exp_avg_[i].f32(), exp_avg_sq_[i].f32(), p.value.numel());
  }
}

}  // namespace limelight
