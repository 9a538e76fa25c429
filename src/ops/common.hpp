// Helpers shared by the op implementations: input checks, the backend of the
// inputs' device, gradient pointers and the one function that records a node.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <iterator>
#include <span>
#include <utility>

#include "backend/backend.hpp"
#include "limelight/ops.hpp"

namespace limelight::ops::detail {

using backend::Backend;

inline bool needs_grad(Tape& t, std::initializer_list<Var> vars) {
  if (!t.recording()) return false;
  for (Var v : vars)
    if (v.valid() && t.requires_grad(v)) return true;
  return false;
}

inline bool wants(Tape& t, Var v) { return v.valid() && t.requires_grad(v); }

// The gradient buffer of v when it wants one, else null.
inline float* grad_or_null(Tape& t, Var v) { return wants(t, v) ? t.grad(v).f32() : nullptr; }

// Where a table's gradient goes: its row-sparse accumulator when the
// parameter is sparse, its dense buffer otherwise, nowhere when not wanted.
inline backend::TableGrad table_grad(Tape& t, Var table) {
  if (!wants(t, table)) return {};
  Parameter* p = t.parameter_of(table);
  if (p && p->sparse) return {nullptr, &p->sparse_grad};
  return {t.grad(table).f32(), nullptr};
}

// A fresh output tensor from the step arena.
inline Tensor new_tensor(Tape& t, const Shape& shape, DType dtype = DType::f32) {
  return t.arena().tensor(shape, dtype);
}

// A one-element output holding a value computed on the host.
inline Tensor scalar_tensor(Tape& t, float value) {
  Tensor out = new_tensor(t, Shape{1});
  allocator_for(t.device()).copy(out.raw(), t.device(), &value, Device::cpu, sizeof value);
  return out;
}

inline const Tensor& f32_input(Tape& t, Var v, const char* op, const char* what) {
  const Tensor& x = t.value(v);
  LL_CHECK(x.dtype() == DType::f32, op, ": ", what, " must be f32, got ", dtype_name(x.dtype()));
  return x;
}

// The backend every input lives on: the tape's device (where outputs are
// allocated). Tensors on another device are an error, never a silent copy.
inline Backend& backend_of(Tape& t, const char* op, std::initializer_list<Var> vars,
                           std::initializer_list<const Tensor*> constants = {}) {
  const Device device = t.device();
  for (Var v : vars)
    if (v.valid())
      LL_CHECK(t.value(v).device() == device, op, ": an input is on ", device_name(t.value(v).device()),
               " but the tape computes on ", device_name(device), "; move it with Tensor::to");
  for (const Tensor* c : constants)
    LL_CHECK(c->device() == device, op, ": an id or mask tensor is on ", device_name(c->device()),
             " but the tape computes on ", device_name(device), "; move it with Tensor::to");
  return backend::get(device);
}

inline void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  LL_CHECK(a.shape() == b.shape(), op, ": shapes differ, ", a.shape().str(), " vs ", b.shape().str());
}

// Ids of a (V, ...) table: i32, each in [0, V). On a device this is a
// search there and a wait for its queue.
inline void check_ids(Backend& be, const Tensor& ids, std::int64_t V, const char* op) {
  LL_CHECK(ids.dtype() == DType::i32, op, ": ids must be i32, got ", dtype_name(ids.dtype()));
  const std::int64_t bad = be.find_bad_id(ids.i32(), ids.numel(), V);
  if (bad >= 0) {
    const std::int32_t id = ids.to(Device::cpu).i32()[bad];
    ::limelight::detail::fail(op, ": item id ", id, " at position ", bad, " is outside [0, ", V, ")");
  }
}

// The same for an op whose device kernels check each id themselves (the
// gathers, scatters, losses and mixture scores): ids in a device's memory are
// not searched first, which would wait for the device's queue on every
// training step. A kernel skips an id outside the table and flags it, and
// the next synchronisation (the loss's read-back, any copy to the host)
// throws an Error naming the kernel. (The model checks its batches on the
// host before they go to the device.)
inline void check_ids_before_flagging_kernel(Backend& be, const Tensor& ids, std::int64_t V, const char* op) {
  if (ids.device() == Device::cpu) return check_ids(be, ids, V, op);
  LL_CHECK(ids.dtype() == DType::i32, op, ": ids must be i32, got ", dtype_name(ids.dtype()));
}

// The outer / n / inner view of a shape around dimension `dim`.
struct Split {
  std::int64_t outer, n, inner;
};
inline Split split_at(const Shape& s, int dim, const char* op) {
  LL_CHECK(dim >= 0 && dim < s.rank(), op, ": dimension ", dim, " out of range for shape ", s.str());
  Split r{1, s[dim], 1};
  for (int i = 0; i < dim; ++i) r.outer *= s[i];
  for (int i = dim + 1; i < s.rank(); ++i) r.inner *= s[i];
  return r;
}

// Makes `value` the op's output and, when it requires a gradient, appends
// the op's node: `fill(node)` stores what its backward needs.
template <class Fill>
Var record(Tape& t, const Tensor& value, bool requires_grad, BackwardFn backward, std::span<const Var> inputs,
           Fill&& fill) {
  LL_CHECK(inputs.size() <= sizeof(Node::in) / sizeof(Var), "record: an op with ", inputs.size(), " inputs");
  Var r = t.output(value, requires_grad);
  if (requires_grad) {
    Node n;
    n.backward = backward;
    n.out = r;
    std::copy(inputs.begin(), inputs.end(), n.in);
    fill(n);
    t.push(n);
  }
  return r;
}

template <class Fill>
Var record(Tape& t, const Tensor& value, bool requires_grad, BackwardFn backward, std::initializer_list<Var> inputs,
           Fill&& fill) {
  return record(t, value, requires_grad, backward, std::span<const Var>(inputs.begin(), inputs.size()),
                std::forward<Fill>(fill));
}

inline Var record(Tape& t, const Tensor& value, bool requires_grad, BackwardFn backward,
                  std::initializer_list<Var> inputs) {
  return record(t, value, requires_grad, backward, inputs, [](Node&) {});
}

}  // namespace limelight::ops::detail
