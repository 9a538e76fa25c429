// Steady state allocates nothing: a training step after warm-up, and
// predict/recommend after a thread's first call. malloc and friends are
// interposed for this test executable only and count calls while a probe is
// open (from every thread, OpenMP's workers included).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>

#include "limelight/model.hpp"
#include "limelight/session.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define LL_COUNTING 0  // the sanitizer owns malloc
#else
#define LL_COUNTING 1
#endif

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

struct Probe {
  Probe() {
    allocations = 0;
    counting = true;
  }
  ~Probe() { counting = false; }
  long count() const { return allocations.load(); }
};
}  // namespace

#if LL_COUNTING
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_malloc(n);
}
void* calloc(std::size_t a, std::size_t b) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_memalign(alignment, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : 12;  // ENOMEM
}
}
#endif

using namespace limelight;

namespace {

ImplicitSequenceModel make_model(const std::string& representation, const std::string& loss, bool sparse) {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.loss = loss;
  c.embedding_dim = 16;
  c.sparse = sparse;
  c.cnn.kernel_width = {3};
  c.cnn.dilation = {1, 2};
  c.cnn.num_layers = 2;
  ImplicitSequenceModel m(c);
  m.initialize(300);
  return m;
}

Tensor batch(std::int64_t B, std::int64_t L, std::int64_t n, std::uint32_t salt) {
  Tensor t = Tensor::empty(n > 1 ? Shape{n, B, L} : Shape{B, L}, DType::i32);
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.i32()[i] = (i % L < 3) ? 0 : static_cast<std::int32_t>(1 + (i * 7919 + salt) % 299);
  return t;
}

}  // namespace

TEST_CASE("a steady-state training step makes no heap allocation") {
  if (!LL_COUNTING) {
    MESSAGE("skipped: the sanitizer build owns malloc");
    return;
  }
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"})
    for (const char* loss : {"bpr", "adaptive_hinge"})
      for (bool sparse : {false, true}) {
        CAPTURE(rep);
        CAPTURE(loss);
        CAPTURE(sparse);
        ImplicitSequenceModel m = make_model(rep, loss, sparse);
        const std::int64_t n = std::string(loss) == "adaptive_hinge" ? 5 : 1;
        Tensor seq = batch(32, 20, 1, 1);
        for (int step = 0; step < 3; ++step) m.train_step(seq, batch(32, 20, n, 100 + step));
        Tensor negs[4] = {batch(32, 20, n, 7), batch(32, 20, n, 8), batch(32, 20, n, 9), batch(32, 20, n, 10)};
        Probe probe;
        for (const Tensor& neg : negs) m.train_step(seq, neg);
        CHECK_MESSAGE(probe.count() == 0, probe.count(), " allocations in 4 steady-state steps");
      }
}

TEST_CASE("predict and recommend make no heap allocation after the first call") {
  if (!LL_COUNTING) {
    MESSAGE("skipped: the sanitizer build owns malloc");
    return;
  }
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"}) {
    CAPTURE(rep);
    ImplicitSequenceModel m = make_model(rep, "bpr", false);
    std::vector<std::int32_t> seq(199);
    for (int i = 0; i < 199; ++i) seq[static_cast<std::size_t>(i)] = 1 + (i * 31) % 299;
    std::vector<float> scores(300);
    Recommendation top[10];
    m.score_batch(seq.data(), 1, 199, scores.data());
    m.recommend_into(seq, 10, true, top);
    Probe probe;
    for (int i = 0; i < 20; ++i) {
      m.score_batch(seq.data(), 1, 199, scores.data());
      CHECK(m.recommend_into(seq, 10, true, top) == 10);
    }
    CHECK_MESSAGE(probe.count() == 0, probe.count(), " allocations in 20 predict + recommend calls");
  }
}

TEST_CASE("a session's push and recommend make no heap allocation after the first") {
  if (!LL_COUNTING) {
    MESSAGE("skipped: the sanitizer build owns malloc");
    return;
  }
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"})
    for (std::int64_t bound : {0, 3, 40}) {
      const std::string name = rep;
      CAPTURE(name);
      CAPTURE(bound);
      ImplicitSequenceModel m = make_model(rep, "bpr", false);
      const SessionModel serving(m);
      Session s = serving.start(SessionOptions{bound});
      Recommendation top[10];
      s.push(1);
      s.recommend_into(10, true, top);
      // An unbounded session's set of seen items grows with the distinct
      // items: 7 of them fit its first capacity; a bounded one never grows.
      const std::int32_t distinct = bound == 0 ? 7 : 299;
      Probe probe;
      for (int i = 0; i < 3000; ++i) {
        s.push(1 + (i * 7919) % distinct);
        if (i % 10 == 0) CHECK(s.recommend_into(10, true, top) == 10);
      }
      CHECK_MESSAGE(probe.count() == 0, probe.count(), " allocations in 3000 pushes and 300 recommends");
    }
}

TEST_CASE("an unbounded session's seen set grows by doubling, not per event") {
  if (!LL_COUNTING) return;
  ImplicitSequenceModel m = make_model("lstm", "bpr", false);
  const SessionModel serving(m);
  Session s = serving.start();
  s.push(1);
  Probe probe;
  for (std::int32_t item = 2; item < 300; ++item) s.push(item);  // 298 new distinct items
  // 16 slots hold 8 items at load 1/2; 299 items need 1024 slots: 6 doublings.
  CHECK(probe.count() == 6);
}

TEST_CASE("the probe sees allocations: a check that can fail") {
  if (!LL_COUNTING) return;
  Probe probe;
  void* volatile p = std::malloc(64);
  std::free(p);
  std::vector<int>* v = new std::vector<int>(100);
  delete v;
  CHECK(probe.count() >= 3);
}
