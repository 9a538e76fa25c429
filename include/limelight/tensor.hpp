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

// Where a device's memory comes from. The host's is built in; a GPU backend
// registers its own (a caching allocator) when it is loaded, so that tensors,
// the step arena and the ops need no change when memory moves to the device.
class DeviceAllocator {
 public:
  virtual ~DeviceAllocator() = default;
  // At least `bytes`, 64-byte aligned; throws Error when the device is out of memory.
  virtual void* allocate(std::size_t bytes) = 0;
  // allocate() then zero(); an allocator that can hand out memory already
  // zeroed (the host's fresh pages) overrides it to skip the pass.
  virtual void* allocate_zeroed(std::size_t bytes) {
    void* p = allocate(bytes);
    zero(p, bytes);
    return p;
  }
  virtual void deallocate(void* p) noexcept = 0;
  virtual void zero(void* p, std::size_t bytes) = 0;
  // Copies between this device and the host (either side may be the host).
  virtual void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) = 0;
  // Returns once the work the calling thread has queued on the device is
  // done, so that what it wrote is what work queued later by any thread
  // reads (a device whose queues run apart from the host needs this where
  // a model's parameters change hands; the host's memory does not).
  virtual void synchronize() {}
};
// Installs the allocator of a device (not the host's, which is fixed). The
// allocator must outlive every tensor allocated from it.
void register_allocator(Device device, DeviceAllocator* allocator);
bool has_allocator(Device device);
// Throws Error naming the device when no backend has registered one.
DeviceAllocator& allocator_for(Device device);

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
  // A copy on another device (this tensor itself when already there).
  Tensor to(Device device) const;
  // Overwrites this tensor's elements with src's (same shape and dtype,
  // either device).
  void copy_from(const Tensor& src) const;
  void fill(float value) const;
  void zero() const;
  std::vector<float> to_vector() const;  // f32 only

 private:
  static Tensor allocated(const Shape& shape, DType dtype, Device device, bool zeroed);

  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu;
};

// Bump allocator for the tensors of one step, on one device. reset() makes
// all of its memory reusable; after the first steps it has grown to the peak
// and allocates no more. Blocks are 64-byte aligned.
class Arena {
 public:
  explicit Arena(Device device = Device::cpu) : device_(device) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* allocate(std::size_t bytes);
  Tensor tensor(const Shape& shape, DType dtype = DType::f32);
  Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  void reset();
  std::size_t capacity() const;
  std::size_t heap_allocations() const { return heap_allocations_; }
  Device device() const { return device_; }

  // Test aid (host arenas): every allocation is followed by `bytes` of a
  // known pattern, and check_guards() throws Error naming the first
  // allocation whose guard was overwritten since the last reset(). 0 turns it off.
  void set_guard_bytes(std::size_t bytes);
  void check_guards() const;

 private:
  struct BlockDeleter {
    DeviceAllocator* allocator;
    void operator()(std::byte* p) const { allocator->deallocate(p); }
  };
  struct Block {
    std::unique_ptr<std::byte, BlockDeleter> memory;
    std::size_t size = 0;
  };
  struct Guard {
    const std::byte* at;
    std::size_t requested;
  };
  Block new_block(std::size_t size);
  Device device_;
  std::size_t guard_bytes_ = 0;
  std::vector<Guard> guards_;
  std::vector<Block> blocks_;
  std::size_t current_ = 0;  // index of the block being filled
  std::size_t offset_ = 0;   // bytes used in it
  std::size_t used_total_ = 0;
  std::size_t peak_ = 0;
  std::size_t heap_allocations_ = 0;
};

}  // namespace limelight
