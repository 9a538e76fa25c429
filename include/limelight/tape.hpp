// The autograd tape: an explicit, append-only record of one forward pass.
//
// Values live in slots addressed by Var handles. Operations (include/limelight/
// ops.hpp) compute eagerly, store their result in a new slot and, when any
// input needs a gradient, append a node holding only what their backward
// needs. Recording order is topological, so backward() is one reverse loop in
// which each node adds into its inputs' gradients. Parameters are leaves whose
// gradients land in the Parameter itself: densely, or, for an embedding table
// marked sparse, as a row-sparse gradient.
//
// All step memory comes from the tape's Arena; reset() keeps its capacity, so
// after the first steps a forward+backward pass makes no heap allocation.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <optional>
#include <vector>

#include "limelight/tensor.hpp"

namespace limelight {

// The device form of a row-sparse gradient, for a table that lives on a GPU:
// every (id, gradient row) entry the step's backward passes add, in the
// order they were added (id 0 and untouched entries may be present, as id
// 0). The GPU backend owns the memory (it grows to the largest step once)
// and coalesces the entries into distinct rows only when it reads them, by
// a stable sort on id that sums each row's entries in the order they were
// added: the CPU accumulator's order, so the result is deterministic.
struct DeviceSparseEntries {
  std::shared_ptr<void> memory;  // ids then values, `capacity` entries
  std::int32_t* ids = nullptr;
  float* values = nullptr;       // count x row_size
  std::int64_t count = 0, capacity = 0;
};

// std::allocator through the host tensor allocator, which puts blocks of
// catalogue size on transparent huge pages: the row map of a 10M-item table
// is 40 MB read at random, a TLB miss per look-up on 4 KiB pages.
template <class T>
struct HostTableAllocator {
  using value_type = T;
  HostTableAllocator() = default;
  template <class U>
  HostTableAllocator(const HostTableAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocator_for(Device::cpu).allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { allocator_for(Device::cpu).deallocate(p); }
  template <class U>
  bool operator==(const HostTableAllocator<U>&) const { return true; }
};

// std::allocator whose resize() leaves new floats unwritten: a step's
// row-sparse gradient fills its values itself (assign_rows_unset), and
// zeroing them first was a pass over megabytes on one thread.
template <class T>
struct UnsetAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UnsetAllocator<U>;
  };
  UnsetAllocator() = default;
  template <class U>
  UnsetAllocator(const UnsetAllocator<U>&) {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// Row-sparse gradient of a (V, D) table: the rows touched this step and their
// accumulated gradients. Touching and clearing cost O(rows touched), not O(V).
// A table on the host accumulates here; one on a GPU in device_entries().
class SparseRows {
 public:
  void resize(std::int64_t num_rows, std::int64_t row_size);
  float* row(std::int32_t id);  // the accumulator of row `id`, zeroed on first touch
  // A hint that row(id) comes soon: over a catalogue-sized table each first
  // look-up of the row map is a cache miss, and loops over a batch's ids
  // issue these a few entries ahead so that the misses overlap.
  void prefetch(std::int32_t id) const { __builtin_prefetch(slot_of_.data() + id); }
  // Fills an empty accumulator with `count` distinct rows at once and returns
  // their values (count x row_size, zeroed) for the caller to add into. The
  // row map is left unwritten (over a catalogue-sized table each entry is a
  // cache miss, to write and again to clear) until row() is next called.
  float* assign_rows(const std::int32_t* ids, std::int64_t count);
  // assign_rows without the zeroing: the caller writes every value.
  float* assign_rows_unset(const std::int32_t* ids, std::int64_t count);
  bool empty() const { return rows_.empty(); }
  void clear();
  const std::vector<std::int32_t>& rows() const { return rows_; }
  const float* values() const { return values_.data(); }  // rows().size() x row_size
  std::int64_t row_size() const { return row_size_; }
  DeviceSparseEntries& device_entries() { return device_; }
  const DeviceSparseEntries& device_entries() const { return device_; }

 private:
  std::vector<std::int32_t, HostTableAllocator<std::int32_t>> slot_of_;  // -1 when untouched
  void map_rows();  // writes the row map for rows_ after assign_rows

  std::vector<std::int32_t> rows_;
  std::vector<float, UnsetAllocator<float>> values_;
  bool mapped_ = true;  // slot_of_ holds every row of rows_
  std::int64_t row_size_ = 0;
  DeviceSparseEntries device_;
};

struct Parameter {
  std::string name;       // as the reference's state_dict names it
  Tensor value;           // owned
  Tensor grad;            // dense gradient, same shape (unused when sparse)
  bool sparse = false;    // row-sparse gradient (embedding tables with sparse Adam)
  SparseRows sparse_grad;

  Parameter() = default;
  Parameter(std::string name, Tensor value, bool sparse = false);
  void zero_grad();
};

struct Var {
  int id = -1;
  bool valid() const { return id >= 0; }
};

class Tape;
struct Node;
using BackwardFn = void (*)(Tape& tape, const Node& node);

// Fixed-size room for one small trivially copyable struct, written and read
// back as that type. Each op (for its attributes) or backend (for its state)
// names its own struct, so no slot's meaning rests on a comment.
template <std::size_t Size>
class PodSlot {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= Size, "PodSlot: type too large or not trivial");
    std::memcpy(bytes_, &value, sizeof(T));
  }
  template <class T>
  T get() const {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= Size, "PodSlot: type too large or not trivial");
    T value;
    std::memcpy(&value, bytes_, sizeof(T));
    return value;
  }

 private:
  alignas(8) unsigned char bytes_[Size] = {};
};

// What a backend carries from an op's forward to its backward: buffers (the
// CPU's per-chunk scratch, later cuDNN's reserve space) and a small state of
// its own (the CPU's chunk count). Opaque to ops and to the tape, in the
// manner of flashlight's autograd payload.
struct BackendPayload {
  Tensor buffers[3];
  PodSlot<32> state;
};

// What an op's backward needs: its inputs and output, the tensors its
// backward reads (ids, masks), its attributes, and the backend's payload.
// Fixed size, so recording allocates nothing once the node vector has grown.
struct Node {
  BackwardFn backward = nullptr;
  Var out;
  Var in[5];
  Tensor saved[3];
  PodSlot<80> attrs;
  BackendPayload payload;
};

class Tape {
 public:
  // A tape that does not record (record = false) runs ops forward only. Its
  // step memory is on `device`.
  explicit Tape(bool record = true, Device device = Device::cpu);
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  Var constant(const Tensor& value);
  Var parameter(Parameter& p);

  const Tensor& value(Var v) const;
  bool requires_grad(Var v) const;
  Parameter* parameter_of(Var v) const;
  // The gradient of v, created zeroed on first use (for a parameter: its dense grad).
  const Tensor& grad(Var v);

  // Seeds d(loss)/d(loss) = seed (1: the loss's own gradients; a data-
  // parallel rank seeds its share of the global batch's mean) for a
  // one-element loss and runs every node in reverse.
  void backward(Var loss, float seed = 1.0f);
  // Forgets every value and node; keeps all capacity.
  void reset();

  // A one-element value (or, for the loss backward() started from, its
  // gradient) read on the host. An op that computed the value on the host
  // says so with set_host_scalar, and backward() knows its seed: those are
  // read without a copy from a device, which would wait for its queue.
  void set_host_scalar(Var v, float value);
  float scalar(Var v) const;
  float grad_scalar(Var v);

  bool recording() const { return record_; }
  Arena& arena() { return arena_; }
  std::size_t num_nodes() const { return nodes_.size(); }

  // For op implementations: a new slot for an op's output, and its node.
  Var output(const Tensor& value, bool requires_grad);
  void push(const Node& node);

  // The device of the tape's arena, where op outputs are allocated.
  Device device() const { return arena_.device(); }

 private:
  struct Slot {
    Tensor value;
    Tensor grad;
    bool requires_grad = false;
    Parameter* param = nullptr;
    std::optional<float> host_value, host_grad;  // known on the host (scalars only)
  };
  const Slot& slot(Var v) const;
  bool record_;
  Arena arena_;
  std::vector<Slot> slots_;
  std::vector<Node> nodes_;
};

}  // namespace limelight
