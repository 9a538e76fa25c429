// Tape, Parameter and SparseRows: recording and the reverse sweep.
#include "limelight/tape.hpp"

#include <algorithm>
#include <cstring>

namespace limelight {

void SparseRows::resize(std::int64_t num_rows, std::int64_t row_size) {
  slot_of_.assign(static_cast<std::size_t>(num_rows), -1);
  rows_.clear();
  values_.clear();
  row_size_ = row_size;
  mapped_ = true;
  device_.count = 0;
}

float* SparseRows::assign_rows(const std::int32_t* ids, std::int64_t count) {
  LL_CHECK(rows_.empty(), "SparseRows::assign_rows: the accumulator already holds ", rows_.size(), " rows");
  rows_.assign(ids, ids + count);
  values_.assign(static_cast<std::size_t>(count * row_size_), 0.0f);
  mapped_ = count == 0;
  return values_.data();
}

float* SparseRows::assign_rows_unset(const std::int32_t* ids, std::int64_t count) {
  LL_CHECK(rows_.empty(), "SparseRows::assign_rows_unset: the accumulator already holds ", rows_.size(), " rows");
  rows_.assign(ids, ids + count);
  values_.resize(static_cast<std::size_t>(count * row_size_));  // values_ is empty: nothing is kept or written
  mapped_ = count == 0;
  return values_.data();
}

void SparseRows::map_rows() {
  for (std::size_t i = 0; i < rows_.size(); ++i) slot_of_[static_cast<std::size_t>(rows_[i])] = static_cast<std::int32_t>(i);
  mapped_ = true;
}

float* SparseRows::row(std::int32_t id) {
  if (!mapped_) map_rows();
  std::int32_t& slot = slot_of_[static_cast<std::size_t>(id)];
  if (slot < 0) {
    slot = static_cast<std::int32_t>(rows_.size());
    rows_.push_back(id);
    values_.resize(values_.size() + static_cast<std::size_t>(row_size_), 0.0f);
  }
  return values_.data() + static_cast<std::size_t>(slot) * static_cast<std::size_t>(row_size_);
}

void SparseRows::clear() {
  constexpr std::size_t ahead = 16;
  for (std::size_t i = 0; mapped_ && i < rows_.size(); ++i) {
    if (i + ahead < rows_.size()) prefetch(rows_[i + ahead]);
    slot_of_[static_cast<std::size_t>(rows_[i])] = -1;
  }
  rows_.clear();
  values_.clear();  // keeps capacity
  mapped_ = true;
  device_.count = 0;
}

Parameter::Parameter(std::string name_, Tensor value_, bool sparse_)
    : name(std::move(name_)), value(std::move(value_)), sparse(sparse_) {
  if (sparse) {
    LL_CHECK(value.rank() == 2, "Parameter ", name, ": a sparse parameter must be a (rows, width) table, got ",
             value.shape().str());
    sparse_grad.resize(value.dim(0), value.dim(1));
  } else {
    grad = Tensor::zeros(value.shape(), DType::f32, value.device());
  }
}

void Parameter::zero_grad() {
  if (sparse)
    sparse_grad.clear();
  else
    grad.zero();
}

Tape::Tape(bool record, Device device) : record_(record), arena_(device) {
  slots_.reserve(256);
  nodes_.reserve(256);
}

const Tape::Slot& Tape::slot(Var v) const {
  LL_CHECK(v.id >= 0 && static_cast<std::size_t>(v.id) < slots_.size(), "Tape: invalid variable ", v.id);
  return slots_[static_cast<std::size_t>(v.id)];
}

Var Tape::constant(const Tensor& value) { return output(value, false); }

Var Tape::parameter(Parameter& p) {
  Var v = output(p.value, record_);
  slots_.back().param = &p;
  return v;
}

const Tensor& Tape::value(Var v) const { return slot(v).value; }
bool Tape::requires_grad(Var v) const { return slot(v).requires_grad; }
Parameter* Tape::parameter_of(Var v) const { return slot(v).param; }

const Tensor& Tape::grad(Var v) {
  slot(v);  // validates the handle
  Slot& s = slots_[static_cast<std::size_t>(v.id)];
  if (!s.grad.defined() || s.grad.raw() == nullptr) {
    if (s.param) {
      LL_CHECK(!s.param->sparse, "Tape: parameter ", s.param->name,
               " has a row-sparse gradient; only embedding ops may write it");
      s.grad = s.param->grad;
    } else {
      s.grad = arena_.zeros(s.value.shape());
    }
  }
  return s.grad;
}

Var Tape::output(const Tensor& value, bool requires_grad) {
  Slot s;
  s.value = value;
  s.requires_grad = requires_grad && record_;
  slots_.push_back(std::move(s));
  return Var{static_cast<int>(slots_.size() - 1)};
}

void Tape::push(const Node& node) {
  if (record_) nodes_.push_back(node);
}

void Tape::backward(Var loss, float seed_value) {
  LL_CHECK(record_, "Tape::backward: this tape does not record");
  const Tensor& l = value(loss);
  LL_CHECK(l.numel() == 1, "Tape::backward: the loss must have one element, got shape ", l.shape().str());
  LL_CHECK(requires_grad(loss), "Tape::backward: the loss does not depend on any parameter");
  const Tensor& seed = grad(loss);
  allocator_for(seed.device()).copy(seed.raw(), seed.device(), &seed_value, Device::cpu, sizeof seed_value);
  slots_[static_cast<std::size_t>(loss.id)].host_grad = seed_value;
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    // A node whose output received no gradient contributes nothing.
    const Slot& out = slots_[static_cast<std::size_t>(it->out.id)];
    if (!out.grad.defined() || out.grad.raw() == nullptr) continue;
    it->backward(*this, *it);
  }
}

void Tape::set_host_scalar(Var v, float value) {
  const Slot& s = slot(v);
  LL_CHECK(s.value.numel() == 1, "Tape::set_host_scalar: the value has shape ", s.value.shape().str());
  slots_[static_cast<std::size_t>(v.id)].host_value = value;
}

float Tape::scalar(Var v) const {
  const Slot& s = slot(v);
  LL_CHECK(s.value.numel() == 1, "Tape::scalar: the value has shape ", s.value.shape().str());
  return s.host_value ? *s.host_value : s.value.to(Device::cpu).f32()[0];
}

float Tape::grad_scalar(Var v) {
  const Tensor& g = grad(v);
  LL_CHECK(g.numel() == 1, "Tape::grad_scalar: the gradient has shape ", g.shape().str());
  const Slot& s = slot(v);
  return s.host_grad ? *s.host_grad : g.to(Device::cpu).f32()[0];
}

void Tape::reset() {
  slots_.clear();
  nodes_.clear();
  arena_.reset();
}

}  // namespace limelight
