// The loss at one scored position: the four masked losses (pointwise, BPR,
// hinge, adaptive hinge on its hardest negative) and their derivatives by
// the positive and the negative score. The masked sequence loss and the
// fused pooled loss both call it; it needs nothing but fast_sigmoid, so that
// kernels/loss.cu's device copy (written with expf) can come to share it.
#pragma once

#include "backend/cpu/cpu_math.hpp"
#include "limelight/op_kinds.hpp"

namespace limelight::cpu {

inline void loss_element(ops::LossKind kind, float p, float n, float& value, float& d_p, float& d_n) {
  switch (kind) {
    case ops::LossKind::pointwise: {
      const float sp = fast_sigmoid(p), sn = fast_sigmoid(n);
      value = (1.0f - sp) + sn;
      d_p = -sp * (1.0f - sp);
      d_n = sn * (1.0f - sn);
      break;
    }
    case ops::LossKind::bpr: {
      const float s = fast_sigmoid(p - n);
      value = 1.0f - s;
      d_p = -s * (1.0f - s);
      d_n = -d_p;
      break;
    }
    default: {
      const float x = n - p + 1.0f;
      value = x > 0.0f ? x : 0.0f;
      d_n = x >= 0.0f ? 1.0f : 0.0f;
      d_p = -d_n;
    }
  }
}

}  // namespace limelight::cpu
