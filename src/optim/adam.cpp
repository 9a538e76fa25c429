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
  // Zeroed by the allocator: on the host a catalogue-sized moment is fresh
  // pages, which cost nothing until the first step writes them.
  for (Parameter* p : params_) {
    for (auto* moments : {&exp_avg_, &exp_avg_sq_})
      moments->push_back(Tensor::zeros(p->value.shape(), DType::f32, p->value.device()));
  }
}

void Adam::restore(std::int64_t steps, const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq) {
  LL_CHECK(steps >= 0, "Adam::restore: negative step count ", steps);
  LL_CHECK(exp_avg.size() == params_.size() && exp_avg_sq.size() == params_.size(), "Adam::restore: moments for ",
           exp_avg.size(), " and ", exp_avg_sq.size(), " parameters, the optimizer has ", params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (const Tensor* t : {&exp_avg[i], &exp_avg_sq[i]})
      LL_CHECK(t->dtype() == DType::f32 && t->shape() == params_[i]->value.shape(), "Adam::restore: a moment of '",
               params_[i]->name, "' has shape ", t->shape().str(), ", the parameter ",
               params_[i]->value.shape().str());
    // Owned copies on the parameter's device: the caller's tensors stay theirs.
    const Device device = params_[i]->value.device();
    exp_avg_[i] = exp_avg[i].device() == device ? exp_avg[i].clone() : exp_avg[i].to(device);
    exp_avg_sq_[i] = exp_avg_sq[i].device() == device ? exp_avg_sq[i].clone() : exp_avg_sq[i].to(device);
  }
  steps_ = steps;
}

void Adam::zero_grad() {
  // Dense gradients through the backend, whose fill splits a catalogue-sized
  // table across threads; sparse ones forget their touched rows.
  for (Parameter* p : params_) {
    if (p->sparse || p->grad.numel() == 0)
      p->zero_grad();
    else
      backend::get(p->grad.device()).fill(p->grad.f32(), p->grad.numel(), 0.0f);
  }
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
