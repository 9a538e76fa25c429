// Host tensor memory: catalogue-sized zeroed tensors come straight from the
// kernel as fresh pages (src/core/tensor.cpp); these check what that path
// must still guarantee.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>

#include "limelight/tensor.hpp"

using namespace limelight;

namespace {
bool all_zero(const Tensor& t) {
  const float* p = t.f32();
  return std::all_of(p, p + t.numel(), [](float x) { return x == 0.0f; });
}
}  // namespace

TEST_CASE("tensor memory: a large zeros() is zero every time, also after a dirtied block is freed") {
  const Shape shape{3'000'001, 5};  // 60 MB: the mapped path, a length that is not a page multiple
  for (int round = 0; round < 3; ++round) {
    Tensor t = Tensor::zeros(shape);
    CHECK(reinterpret_cast<std::uintptr_t>(t.raw()) % 64 == 0);
    CHECK(all_zero(t));
    std::fill(t.f32(), t.f32() + t.numel(), 1.5f);  // the whole block is writable, to its last element
    CHECK(t.f32()[t.numel() - 1] == 1.5f);
  }
}

TEST_CASE("tensor memory: small and large empty() and zeros() blocks mix and free in any order") {
  Tensor big_empty = Tensor::empty(Shape{4'000'000});
  Tensor small = Tensor::zeros(Shape{17});
  Tensor big_zeros = Tensor::zeros(Shape{4'000'000});
  CHECK(all_zero(small));
  CHECK(all_zero(big_zeros));
  std::fill(big_empty.f32(), big_empty.f32() + big_empty.numel(), 2.0f);
  big_zeros = Tensor();  // the mapped block goes first, the malloc'd one after
  big_empty = Tensor();
  Tensor again = Tensor::zeros(Shape{4'000'000});
  CHECK(all_zero(again));
}
