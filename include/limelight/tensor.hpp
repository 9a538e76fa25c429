// Tensor: a value with a shape (up to 4 dimensions, row-major, contiguous),
// an element type, a device and storage. It carries no autograd state.
//
// Storage is either owned (a reference-counted heap block, used for
// parameters and long-lived buffers) or borrowed from an Arena (the memory of
// one training step, reset between steps so that a steady-state step makes no
// heap allocation).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "limelight/error.hpp"

namespace limelight {

enum class DType : std::uint8_t { f32, i32, i64 };
enum class Device : std::uint8_t { cpu, cuda };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
const char* device_name(Device device);

class Shape {
 public:
  static constexpr int max_rank = 4;
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims);

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t numel() const;
  std::vector<std::int64_t> to_vector() const;
  std::string str() const;  // "(4, 6, 8)"
  // The same shape with one more trailing dimension (Error beyond max_rank).
  Shape appended(std::int64_t dim) const;
  // The same shape without dimension `dim` (a scalar shape (1) if none is left).
  Shape removed(int dim) const;
  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }

 private:
  std::array<std::int64_t, max_rank> dims_{};
  int rank_ = 0;
};

class Tensor {
 public:
  Tensor() = default;

  // Owned storage. zeros() fills with 0; empty() leaves memory uninitialised.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<std::int32_t>& values, const Shape& shape);
  // Borrowed storage: the caller keeps `data` alive (an Arena block).
  static Tensor borrow(void* data, const Shape& shape, DType dtype, Device device = Device::cpu);

  bool defined() const { return data_ != nullptr || shape_.numel() == 0; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int i) const { return shape_[i]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }

  void* raw() const { return data_; }
  float* f32() const;
  std::int32_t* i32() const;
  std::int64_t* i64() const;

  // Same storage, another shape of the same element count.
  Tensor reshape(const Shape& shape) const;
  // A deep copy into owned storage.
  Tensor clone() const;
  void fill(float value) const;
  void zero() const;
  std::vector<float> to_vector() const;  // f32 only

 private:
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu;
};

// Bump allocator for the tensors of one step. reset() makes all of its memory
// reusable; after the first steps it has grown to the peak and allocates no
// more. Blocks are 64-byte aligned.
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* allocate(std::size_t bytes);
  Tensor tensor(const Shape& shape, DType dtype = DType::f32);
  Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  void reset();
  std::size_t capacity() const;
  std::size_t heap_allocations() const { return heap_allocations_; }

 private:
  struct FreeDeleter {
    void operator()(std::byte* p) const;
  };
  struct Block {
    std::unique_ptr<std::byte, FreeDeleter> memory;
    std::size_t size = 0;
  };
  std::vector<Block> blocks_;
  std::size_t current_ = 0;  // index of the block being filled
  std::size_t offset_ = 0;   // bytes used in it
  std::size_t used_total_ = 0;
  std::size_t peak_ = 0;
  std::size_t heap_allocations_ = 0;
};

}  // namespace limelight
