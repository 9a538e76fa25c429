// Tensor, Shape and Arena: storage and shapes, no arithmetic.
#include "limelight/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <sstream>
#include <unordered_map>

#include <sys/mman.h>

namespace limelight {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::i64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  return "?";
}

const char* device_name(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

Shape::Shape(std::initializer_list<std::int64_t> dims) {
  // No temporary vector: shapes are built in every op, and ops must not allocate.
  LL_CHECK(dims.size() <= static_cast<std::size_t>(max_rank), "Shape: rank ", dims.size(),
           " exceeds the maximum of ", max_rank);
  for (std::int64_t d : dims) {
    LL_CHECK(d >= 0, "Shape: negative dimension ", d);
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }
}

Shape::Shape(const std::vector<std::int64_t>& dims) {
  LL_CHECK(dims.size() <= static_cast<std::size_t>(max_rank), "Shape: rank ", dims.size(),
           " exceeds the maximum of ", max_rank);
  rank_ = static_cast<int>(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    LL_CHECK(dims[i] >= 0, "Shape: negative dimension ", dims[i]);
    dims_[i] = dims[i];
  }
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
  return n;
}

std::vector<std::int64_t> Shape::to_vector() const {
  return std::vector<std::int64_t>(dims_.begin(), dims_.begin() + rank_);
}

Shape Shape::appended(std::int64_t dim) const {
  LL_CHECK(rank_ < max_rank, "Shape: cannot append a dimension to ", str(), " (rank ", max_rank, " at most)");
  LL_CHECK(dim >= 0, "Shape: negative dimension ", dim);
  Shape s = *this;
  s.dims_[static_cast<std::size_t>(s.rank_++)] = dim;
  return s;
}

Shape Shape::removed(int dim) const {
  LL_CHECK(dim >= 0 && dim < rank_, "Shape: no dimension ", dim, " in ", str());
  Shape s;
  for (int i = 0; i < rank_; ++i)
    if (i != dim) s.dims_[static_cast<std::size_t>(s.rank_++)] = dims_[static_cast<std::size_t>(i)];
  if (s.rank_ == 0) s = Shape{1};
  return s;
}

std::string Shape::str() const {
  std::ostringstream out;
  out << '(';
  for (int i = 0; i < rank_; ++i) out << (i ? ", " : "") << dims_[static_cast<std::size_t>(i)];
  out << ')';
  return out.str();
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[static_cast<std::size_t>(i)] != other.dims_[static_cast<std::size_t>(i)]) return false;
  return true;
}

namespace {
constexpr std::size_t alignment = 64;
constexpr std::size_t huge_page = std::size_t{2} << 20, huge_page_threshold = std::size_t{8} << 20;

// At least one byte, rounded up to a multiple of `unit`.
std::size_t round_up(std::size_t bytes, std::size_t unit = alignment) {
  return (std::max<std::size_t>(bytes, 1) + unit - 1) / unit * unit;
}

// Catalogue-sized blocks go on transparent huge pages where the system allows
// it (madvise mode): a random row of a 10M-item table otherwise costs a TLB
// miss on top of its cache miss, and streaming the table for serving stops
// the prefetchers at every 4 KiB page.
void advise_huge_pages(void* p, std::size_t size) {
#ifdef MADV_HUGEPAGE
  madvise(p, size, MADV_HUGEPAGE);  // advice only: failure leaves normal pages
#endif
}

// The zeroed blocks mapped straight from the kernel, and their lengths. Never
// destroyed, so that a tensor freed during static destruction still finds it.
struct MappedBlocks {
  std::mutex mutex;
  std::unordered_map<void*, std::size_t> lengths;
};
MappedBlocks& mapped_blocks() {
  static MappedBlocks* blocks = new MappedBlocks;
  return *blocks;
}

class HostAllocator final : public DeviceAllocator {
 public:
  void* allocate(std::size_t bytes) override {
    // From malloc, which reuses freed blocks: a per-call buffer of a few MiB
    // stays warm instead of faulting in fresh pages at every call.
    const bool huge = bytes >= huge_page_threshold;
    const std::size_t size = round_up(bytes, huge ? huge_page : alignment);
    void* p = std::aligned_alloc(huge ? huge_page : alignment, size);
    if (!p) detail::fail("Tensor: out of host memory allocating ", bytes, " bytes");
    if (huge) advise_huge_pages(p, size);
    return p;
  }
  void* allocate_zeroed(std::size_t bytes) override {
    // Fresh anonymous pages read as zero and cost nothing until touched, so a
    // catalogue-sized gradient or Adam moment is not written twice (the
    // kernel's clearing, then a memset), and a model that never trains never
    // commits them.
    return bytes >= huge_page_threshold ? map_zeroed(bytes) : DeviceAllocator::allocate_zeroed(bytes);
  }
  void deallocate(void* p) noexcept override {
    if (!p) return;
    // Mapped blocks are huge-page aligned, so most blocks skip the look-up.
    if (reinterpret_cast<std::uintptr_t>(p) % huge_page == 0) {
      MappedBlocks& mapped = mapped_blocks();
      std::lock_guard<std::mutex> lock(mapped.mutex);
      const auto it = mapped.lengths.find(p);
      if (it != mapped.lengths.end()) {
        munmap(p, it->second);
        mapped.lengths.erase(it);
        return;
      }
    }
    std::free(p);
  }
  void zero(void* p, std::size_t bytes) override { std::memset(p, 0, bytes); }
  void copy(void* dst, Device, const void* src, Device, std::size_t bytes) override { std::memcpy(dst, src, bytes); }

 private:
  static void* map_zeroed(std::size_t bytes) {
    const std::size_t size = round_up(bytes, huge_page);
    // Over-map by one huge page and trim both ends to an aligned range.
    void* raw = mmap(nullptr, size + huge_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) detail::fail("Tensor: out of host memory allocating ", bytes, " bytes");
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = round_up(start, huge_page);
    if (aligned > start) munmap(raw, aligned - start);
    const std::uintptr_t end = start + size + huge_page, aligned_end = aligned + size;
    if (end > aligned_end) munmap(reinterpret_cast<void*>(aligned_end), end - aligned_end);
    void* p = reinterpret_cast<void*>(aligned);
    advise_huge_pages(p, size);
    try {
      MappedBlocks& mapped = mapped_blocks();
      std::lock_guard<std::mutex> lock(mapped.mutex);
      mapped.lengths.emplace(p, size);
    } catch (...) {
      munmap(p, size);
      throw;
    }
    return p;
  }
};

HostAllocator host_allocator;
std::atomic<DeviceAllocator*> cuda_allocator{nullptr};
}  // namespace

void register_allocator(Device device, DeviceAllocator* allocator) {
  LL_CHECK(device != Device::cpu, "register_allocator: the host allocator is built in");
  cuda_allocator.store(allocator);
}

bool has_allocator(Device device) { return device == Device::cpu || cuda_allocator.load() != nullptr; }

DeviceAllocator& allocator_for(Device device) {
  if (device == Device::cpu) return host_allocator;
  DeviceAllocator* a = cuda_allocator.load();
  LL_CHECK(a != nullptr, "Tensor: no backend provides ", device_name(device), " memory in this process");
  return *a;
}

Tensor Tensor::allocated(const Shape& shape, DType dtype, Device device, bool zeroed) {
  DeviceAllocator& allocator = allocator_for(device);
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  void* p = zeroed ? allocator.allocate_zeroed(t.nbytes()) : allocator.allocate(t.nbytes());
  t.owner_ = std::shared_ptr<void>(p, [&allocator](void* q) { allocator.deallocate(q); });
  t.data_ = t.owner_.get();
  return t;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) { return allocated(shape, dtype, device, false); }

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return allocated(shape, dtype, device, true); }

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  LL_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), "Tensor::from_vector: ",
           values.size(), " values for shape ", shape.str());
  Tensor t = empty(shape, DType::f32);
  std::copy(values.begin(), values.end(), t.f32());
  return t;
}

Tensor Tensor::from_vector(const std::vector<std::int32_t>& values, const Shape& shape) {
  LL_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), "Tensor::from_vector: ",
           values.size(), " values for shape ", shape.str());
  Tensor t = empty(shape, DType::i32);
  std::copy(values.begin(), values.end(), t.i32());
  return t;
}

Tensor Tensor::borrow(void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.data_ = data;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  return t;
}

float* Tensor::f32() const {
  LL_CHECK(dtype_ == DType::f32, "Tensor: expected f32 data, found ", dtype_name(dtype_));
  return static_cast<float*>(data_);
}

std::int32_t* Tensor::i32() const {
  LL_CHECK(dtype_ == DType::i32, "Tensor: expected i32 data, found ", dtype_name(dtype_));
  return static_cast<std::int32_t*>(data_);
}

std::int64_t* Tensor::i64() const {
  LL_CHECK(dtype_ == DType::i64, "Tensor: expected i64 data, found ", dtype_name(dtype_));
  return static_cast<std::int64_t*>(data_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  LL_CHECK(shape.numel() == numel(), "Tensor::reshape: cannot view ", shape_.str(), " as ",
           shape.str());
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  if (nbytes()) allocator_for(device_).copy(t.data_, device_, data_, device_, nbytes());
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device);
  // The side that is not the host knows how to copy.
  DeviceAllocator& mover = allocator_for(device == Device::cpu ? device_ : device);
  if (nbytes()) mover.copy(t.data_, device, data_, device_, nbytes());
  return t;
}

void Tensor::copy_from(const Tensor& src) const {
  LL_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "Tensor::copy_from: ", dtype_name(src.dtype_), " ",
           src.shape_.str(), " into ", dtype_name(dtype_), " ", shape_.str());
  if (!nbytes()) return;
  DeviceAllocator& mover = allocator_for(device_ == Device::cpu ? src.device_ : device_);
  mover.copy(data_, device_, src.data_, src.device_, nbytes());
}

void Tensor::fill(float value) const {
  LL_CHECK(device_ == Device::cpu, "Tensor::fill: host tensors only; ", device_name(device_), " tensors fill through their backend");
  float* p = f32();
  std::fill(p, p + numel(), value);
}

void Tensor::zero() const {
  if (nbytes()) allocator_for(device_).zero(data_, nbytes());
}

std::vector<float> Tensor::to_vector() const {
  const Tensor host = to(Device::cpu);
  const float* p = host.f32();
  return std::vector<float>(p, p + numel());
}

namespace {
constexpr std::byte guard_pattern{0xA5};
}  // namespace

Arena::Block Arena::new_block(std::size_t size) {
  DeviceAllocator& allocator = allocator_for(device_);
  Block block{std::unique_ptr<std::byte, BlockDeleter>(static_cast<std::byte*>(allocator.allocate(size)),
                                                       BlockDeleter{&allocator}),
              size};
  ++heap_allocations_;
  return block;
}

void* Arena::allocate(std::size_t bytes) {
  const std::size_t rounded = round_up(bytes + guard_bytes_);
  while (current_ < blocks_.size() && offset_ + rounded > blocks_[current_].size) {
    ++current_;
    offset_ = 0;
  }
  if (current_ == blocks_.size()) {
    blocks_.push_back(new_block(std::max<std::size_t>(rounded, std::size_t{1} << 20)));  // a multiple of 64
    offset_ = 0;
  }
  std::byte* p = blocks_[current_].memory.get() + offset_;
  offset_ += rounded;
  used_total_ += rounded;
  if (guard_bytes_) {
    std::memset(p + bytes, static_cast<int>(guard_pattern), rounded - bytes);
    guards_.push_back(Guard{p, bytes});
  }
  return p;
}

void Arena::set_guard_bytes(std::size_t bytes) {
  LL_CHECK(device_ == Device::cpu, "Arena: guard memory is for host arenas");
  guard_bytes_ = bytes;
}

void Arena::check_guards() const {
  for (std::size_t i = 0; i < guards_.size(); ++i) {
    const Guard& g = guards_[i];
    const std::size_t end = round_up(g.requested + guard_bytes_);
    for (std::size_t k = g.requested; k < end; ++k)
      LL_CHECK(g.at[k] == guard_pattern, "Arena: allocation ", i, " of ", g.requested, " bytes was written ",
               k - g.requested, " bytes past its end");
  }
}

Tensor Arena::tensor(const Shape& shape, DType dtype) {
  return Tensor::borrow(allocate(static_cast<std::size_t>(shape.numel()) * dtype_size(dtype)), shape, dtype, device_);
}

Tensor Arena::zeros(const Shape& shape, DType dtype) {
  Tensor t = tensor(shape, dtype);
  t.zero();
  return t;
}

void Arena::reset() {
  peak_ = std::max(peak_, used_total_);
  // Several blocks mean the step outgrew the arena: replace them by one block
  // of the peak size (with room to spare), so later steps fit in one.
  if (blocks_.size() > 1) {
    blocks_.clear();
    blocks_.push_back(new_block((peak_ + peak_ / 4 + alignment) / alignment * alignment));
  }
  current_ = 0;
  offset_ = 0;
  used_total_ = 0;
  guards_.clear();
}

std::size_t Arena::capacity() const {
  std::size_t total = 0;
  for (const auto& b : blocks_) total += b.size;
  return total;
}

}  // namespace limelight
