// The registry of backends by device, and the backend-neutral helpers.
#include "backend/backend.hpp"

#include <atomic>
#include <cmath>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/cuda_loader.hpp"

namespace limelight {

namespace cpu {
CpuBackend& backend() {
  static CpuBackend instance;
  return instance;
}
void CpuBackend::set_threads(int n) { set_num_threads(n); }
}  // namespace cpu

namespace backend {

namespace {
std::atomic<Backend*> registered_cuda{nullptr};
}  // namespace

Backend& get(Device device) {
  if (device == Device::cpu) return cpu::backend();
  Backend* b = registered_cuda.load();
  if (!b) {
    // The first request loads the library, which registers its backend.
    const CudaBackendStatus& status = cuda_backend();
    b = registered_cuda.load();
    LL_CHECK(b != nullptr, "no ", device_name(device), " backend in this process: ", status.problem);
  }
  return *b;
}

void register_backend(Backend* b) {
  LL_CHECK(b != nullptr && b->device() != Device::cpu, "register_backend: the CPU backend is built in");
  registered_cuda.store(b);
}

std::vector<Device> available() {
  std::vector<Device> out{Device::cpu};
  if (registered_cuda.load()) out.push_back(Device::cuda);
  return out;
}

AdamStep AdamStep::make(double lr, double beta1, double beta2, double eps, double weight_decay, std::int64_t step) {
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  AdamStep c;
  c.beta1 = static_cast<float>(beta1);
  c.beta2 = static_cast<float>(beta2);
  c.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  c.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  c.weight_decay = static_cast<float>(weight_decay);
  c.eps = static_cast<float>(eps);
  c.neg_step_size = static_cast<float>(-(lr / bias_correction1));
  c.bias_correction2_sqrt = std::sqrt(bias_correction2);
  return c;
}

}  // namespace backend
}  // namespace limelight
