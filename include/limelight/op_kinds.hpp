// The small enumerations that ops and backends share: which loss, which
// activation. Kept apart so that a backend needs neither the ops' nor the
// model's header to name them.
#pragma once

#include <cstdint>

namespace limelight::ops {

enum class LossKind : std::uint8_t { pointwise, bpr, hinge, adaptive_hinge };
enum class Activation : std::uint8_t { none, tanh, relu };

}  // namespace limelight::ops
