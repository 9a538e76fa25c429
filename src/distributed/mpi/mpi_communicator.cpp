// The Communicator over MPI_COMM_WORLD: liblimelight_mpi.so, the only code of
// limelight that links MPI. Its symbols of the core library (Communicator's
// collectives, the error type) resolve from the process that loads it.
#include <dlfcn.h>
// The C API only: MPI-2's C++ bindings are deprecated (and warn).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "distributed/mpi_entry.hpp"
#include "limelight/distributed.hpp"
#include "limelight/error.hpp"

namespace limelight::distributed {

namespace {

MPI_Datatype mpi_type(Element e) {
  switch (e) {
    case Element::u8: return MPI_BYTE;
    case Element::i32: return MPI_INT32_T;
    case Element::i64: return MPI_INT64_T;
    case Element::f32: return MPI_FLOAT;
    case Element::f64: return MPI_DOUBLE;
  }
  return MPI_BYTE;
}

// MPI 3.1's counts and displacements are int: larger messages travel in
// units of a contiguous type of `unit` elements, so the limit is 2^31 units.
struct Counts {
  std::vector<int> counts, offsets;
};

std::int64_t common_unit(int n, const std::int64_t* counts, const std::int64_t* offsets) {
  std::int64_t largest = 0;
  for (int p = 0; p < n; ++p) largest = std::max(largest, counts[p] + offsets[p]);
  if (largest <= INT_MAX) return 1;
  // The largest power of two that divides every count and offset.
  std::int64_t unit = std::int64_t{1} << 30;
  for (int p = 0; p < n; ++p)
    while (unit > 1 && ((counts[p] | offsets[p]) & (unit - 1)) != 0) unit >>= 1;
  LL_CHECK(largest / unit <= INT_MAX, "MPI: a message of ", largest, " elements exceeds what MPI 3.1's int counts ",
           "can address");
  return unit;
}

Counts to_int(int n, const std::int64_t* counts, const std::int64_t* offsets, std::int64_t unit) {
  Counts c{std::vector<int>(n), std::vector<int>(n)};
  for (int p = 0; p < n; ++p) {
    c.counts[p] = static_cast<int>(counts[p] / unit);
    c.offsets[p] = static_cast<int>(offsets[p] / unit);
  }
  return c;
}

void check(int status, const char* call) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(status, text, &length);
  limelight::detail::fail("MPI: ", call, " failed: ", text);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string runtime() const override { return "mpi"; }

  void all_to_all_v(Element e, const void* send, const std::int64_t* send_counts, const std::int64_t* send_offsets,
                    void* recv, const std::int64_t* recv_counts, const std::int64_t* recv_offsets) override {
    // Every rank must use the same unit for the pair it exchanges: agree on the smallest.
    std::int64_t unit = std::min(common_unit(size_, send_counts, send_offsets),
                                 common_unit(size_, recv_counts, recv_offsets));
    if (unit > 1) check(MPI_Allreduce(MPI_IN_PLACE, &unit, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    const Unit type(e, unit);
    const Counts s = to_int(size_, send_counts, send_offsets, unit), r = to_int(size_, recv_counts, recv_offsets, unit);
    check(MPI_Alltoallv(send, s.counts.data(), s.offsets.data(), type.type, recv, r.counts.data(), r.offsets.data(),
                        type.type, MPI_COMM_WORLD),
          "MPI_Alltoallv");
  }

  void all_gather_v(Element e, const void* send, std::int64_t count, void* recv, const std::int64_t* recv_counts,
                    const std::int64_t* recv_offsets) override {
    std::int64_t unit = common_unit(size_, recv_counts, recv_offsets);
    if (unit > 1) check(MPI_Allreduce(MPI_IN_PLACE, &unit, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    const Unit type(e, unit);
    const Counts r = to_int(size_, recv_counts, recv_offsets, unit);
    check(MPI_Allgatherv(count == 0 ? nullptr : send, static_cast<int>(count / unit), type.type, recv,
                         r.counts.data(), r.offsets.data(), type.type, MPI_COMM_WORLD),
          "MPI_Allgatherv");
  }

  void broadcast(Element e, void* data, std::int64_t count, int root) override {
    LL_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of a world of ", size_);
    // In pieces of at most 2^30 elements: int counts.
    const std::size_t s = element_size(e);
    for (std::int64_t done = 0; done < count;) {
      const std::int64_t piece = std::min<std::int64_t>(count - done, std::int64_t{1} << 30);
      check(MPI_Bcast(static_cast<char*>(data) + done * s, static_cast<int>(piece), mpi_type(e), root,
                      MPI_COMM_WORLD),
            "MPI_Bcast");
      done += piece;
    }
  }

  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(int status) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
  }

 private:
  // A contiguous type of `unit` elements (the element's own type for 1).
  struct Unit {
    MPI_Datatype type;
    bool owned = false;
    Unit(Element e, std::int64_t unit) : type(mpi_type(e)) {
      if (unit == 1) return;
      check(MPI_Type_contiguous(static_cast<int>(unit), mpi_type(e), &type), "MPI_Type_contiguous");
      check(MPI_Type_commit(&type), "MPI_Type_commit");
      owned = true;
    }
    ~Unit() {
      if (owned) MPI_Type_free(&type);
    }
  };

  int rank_ = 0, size_ = 1;
};

}  // namespace

}  // namespace limelight::distributed

extern "C" {

__attribute__((visibility("default"))) int limelight_mpi_abi_version() { return LIMELIGHT_MPI_ABI_VERSION; }

__attribute__((visibility("default"))) limelight::distributed::Communicator* limelight_mpi_create(
    char* error, std::size_t error_size) {
  // Open MPI loads its own components with dlopen, and they look for
  // libmpi's symbols in the global namespace: this library (and so libmpi)
  // was loaded RTLD_LOCAL, so promote libmpi first.
  for (const char* name : {"libmpi.so.40", "libmpi.so.12", "libmpi.so"})
    if (dlopen(name, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) break;
  try {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // One thread calls MPI; the OpenMP workers never do.
      limelight::distributed::check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    }
    // Errors come back as codes, which check() turns into exceptions that
    // the caller agrees on or aborts with.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return new limelight::distributed::MpiCommunicator();
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
    return nullptr;
  }
}
}
