// Helpers shared by the op implementations: output allocation, node
// recording and the outer/n/inner view of a dimension.
#pragma once

#include <initializer_list>

#include "backend/cpu.hpp"
#include "limelight/ops.hpp"

namespace limelight::ops::detail {

inline bool needs_grad(Tape& t, std::initializer_list<Var> vars) {
  if (!t.recording()) return false;
  for (Var v : vars)
    if (v.valid() && t.requires_grad(v)) return true;
  return false;
}

inline bool wants(Tape& t, Var v) { return v.valid() && t.requires_grad(v); }

// A fresh output tensor from the step arena.
inline Tensor new_tensor(Tape& t, const Shape& shape) { return t.arena().tensor(shape); }

inline const Tensor& f32_input(Tape& t, Var v, const char* op, const char* what) {
  const Tensor& x = t.value(v);
  LL_CHECK(x.dtype() == DType::f32, op, ": ", what, " must be f32, got ", dtype_name(x.dtype()));
  LL_CHECK(x.device() == Device::cpu, op, ": ", what, " is on ", device_name(x.device()),
           ", which this build's ops do not run on");
  return x;
}

inline void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  LL_CHECK(a.shape() == b.shape(), op, ": shapes differ, ", a.shape().str(), " vs ", b.shape().str());
}

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

inline void accumulate(float* dst, const float* src, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace limelight::ops::detail
