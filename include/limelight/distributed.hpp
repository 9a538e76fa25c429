// Training past one process: the communicator seam.
//
// A Communicator is the few collectives that data-parallel training needs,
// over a fixed group of ranks 0..size()-1. The core library implements the
// one-process communicator (local_communicator) and everything built on the
// primitives; the MPI implementation lives in its own library,
// liblimelight_mpi.so, which launcher_communicator() loads only under a
// launcher (mpirun), so that the core library links no MPI. An embedding
// application may implement the primitives over its own runtime.
//
// Every collective is called by every rank in the same order with matching
// sizes; a rank that fails between collectives ends the job (abort), so that
// no rank waits forever for it.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "limelight/error.hpp"

namespace limelight::distributed {

enum class Element { u8, i32, i64, f32, f64 };
std::size_t element_size(Element e);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "local" or "mpi": what runs the collectives.
  virtual std::string runtime() const = 0;

  // The primitives. Counts are in elements, one per rank (size() of them).
  // all_to_all_v: rank r sends send_counts[p] elements starting at
  // send + send_offsets[p] to rank p, and receives recv_counts[p] elements
  // from rank p at recv + recv_offsets[p].
  virtual void all_to_all_v(Element e, const void* send, const std::int64_t* send_counts,
                            const std::int64_t* send_offsets, void* recv, const std::int64_t* recv_counts,
                            const std::int64_t* recv_offsets) = 0;
  // all_gather_v: every rank's `count` elements, in rank order, at
  // recv + recv_offsets[p] (recv_counts[p] of them) on every rank.
  virtual void all_gather_v(Element e, const void* send, std::int64_t count, void* recv,
                            const std::int64_t* recv_counts, const std::int64_t* recv_offsets) = 0;
  virtual void broadcast(Element e, void* data, std::int64_t count, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with `status` (after an error that the other
  // ranks did not see). Does not return.
  [[noreturn]] virtual void abort(int status) = 0;

  // Built on the primitives (communicator.cpp).
  //
  // Sums `n` values across ranks, in place on every rank. Each rank sums one
  // chunk, adding the ranks' values in rank order 0, 1, ..., size()-1, and
  // the chunks are then gathered: at a given world size the result is the
  // same bits on every rank and in every run.
  void all_reduce_sum(float* data, std::int64_t n);
  void all_reduce_sum(double* data, std::int64_t n);
  void all_reduce_sum(std::int64_t* data, std::int64_t n);
  // One value from each rank, in rank order.
  std::vector<std::int64_t> all_gather(std::int64_t value);
  // The maximum of one value across ranks.
  std::int64_t all_reduce_max(std::int64_t value);
  // Every rank's bytes, in rank order (variable length).
  std::vector<std::string> all_gather_strings(const std::string& mine);
  // How many elements each rank sends this one, from what this one sends
  // each rank (one element per pair): the counts an all_to_all_v receives.
  std::vector<std::int64_t> exchange_counts(const std::vector<std::int64_t>& send_counts);
  // all_to_all_v with counts and offsets in rows of `width` elements.
  void all_to_all_rows(Element e, std::int64_t width, const void* send, const std::vector<std::int64_t>& send_counts,
                       const std::vector<std::int64_t>& send_offsets, void* recv,
                       const std::vector<std::int64_t>& recv_counts, const std::vector<std::int64_t>& recv_offsets);

 private:
  template <class T>
  void all_reduce_sum_impl(T* data, std::int64_t n, Element e);
};

// The offsets of consecutive pieces of these sizes: 0, c0, c0 + c1, ...
std::vector<std::int64_t> offsets_of(const std::vector<std::int64_t>& counts);

// The one process: size 1, every collective a copy.
std::unique_ptr<Communicator> local_communicator();

// Whether this process was started by a launcher (mpirun, srun or
// another PMI launcher), from the environment the launcher sets.
bool under_launcher();

// This process's rank as the launcher's environment gives it (0 when not
// under a launcher), readable before MPI starts.
int launcher_rank();
// The job's size as the launcher's environment gives it (1 when not under one).
int launcher_size();

// The communicator of this job: under a launcher the MPI one (loading
// liblimelight_mpi.so and initialising MPI on first use), else the local
// one. Error naming the library when it is missing or fails to start.
// The same object for the life of the process.
Communicator& world();

// Whether world() has been created with MPI (and so MPI is initialised).
bool world_is_mpi();

// An error that every rank raised together (agree() made it so): each rank
// may report it and end normally, without aborting the others.
class AgreedError : public Error {
 public:
  AgreedError(int rank, const std::string& message);
  int failed_rank() const { return rank_; }

 private:
  int rank_;
};

// Runs `body` on every rank, then agrees on the outcome: if any rank threw,
// every rank throws the same AgreedError, carrying the lowest failing
// rank's message (prefixed with "rank R: " on a world of more than one).
// For the phases before and after training, where ranks may fail apart
// (a file that only one rank cannot read).
template <class F>
void agree(Communicator& comm, F&& body);

namespace detail {
// The lowest failing rank's message, or none: one all-gather of the messages.
void agree_on(Communicator& comm, const std::string& local_error);
}  // namespace detail

template <class F>
void agree(Communicator& comm, F&& body) {
  std::string error;
  try {
    body();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown error";
  }
  detail::agree_on(comm, error);
}

}  // namespace limelight::distributed
