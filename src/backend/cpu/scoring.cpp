// Serving on the CPU: final states scored against the whole catalogue and
// the top k by a bounded heap. The catalogue is cut into fixed blocks of
// items; each thread takes a contiguous run of blocks, scores a block for all
// rows into a buffer that stays in cache (an AVX2 dot-product kernel or a
// GEMV for one row, a GEMM for several, the mixture head over a GEMM's dot
// products) and either copies it out (score_catalogue) or feeds it to per-row
// heaps (top_k_catalogue; one row's kernel tests the heap's threshold in
// registers instead), so the table is read once, by all cores, and top-k
// never writes a (rows, V) matrix.
// Block boundaries do not depend on the thread count, so neither do scores;
// the top k under "higher score, then lower id" is unique, so merging the
// threads' heaps gives the same answer for any split.
#include <cblas.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/mixture_head.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/cpu/quantised_table.hpp"

namespace limelight::cpu {

namespace {

using backend::ScoredItem;

constexpr std::int64_t score_block = 512;  // items: 64 KiB of a D = 32 table, 128 KiB of scores for 64 rows

struct Catalogue {
  const float* states;
  std::int64_t rows;
  const float* table;
  const float* bias;
  std::int64_t V, D, M;
};

// One state's scores b + e . x for n consecutive rows of E (D floats each):
// OpenBLAS's sgemv, or, where the CPU has AVX2 and D is a multiple of 8, the
// kernel below. A one-row scan is a pure stream over the table, and sgemv
// reached about 80% of the machine's read bandwidth on it (each call
// re-checks its arguments and splits its work); the kernel reaches about
// 95%. Every caller scores a block through here, so predict, recommend and
// the int8 path's float32 rescoring see the same numbers.
using OneRowDots = void (*)(const float* E, std::int64_t n, std::int64_t D, const float* x, const float* bias,
                            float* out);

void one_row_dots_blas(const float* E, std::int64_t n, std::int64_t D, const float* x, const float* bias,
                       float* out) {
  std::memcpy(out, bias, sizeof(float) * n);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(D), 1.0f, E,
              static_cast<blasint>(D), x, 1, 1.0f, out, 1);
}

#if defined(__x86_64__) || defined(__i386__)
#define LIMELIGHT_DOTS_AVX2 1
// Eight items at a time: each item's D products multiply-added 8 lanes wide
// (eight independent chains), then the eight vectors reduced to one vector
// of eight sums by a transpose of horizontal adds, and the biases added in
// one more. A tail of fewer than 8 items takes the same lane order, one item
// at a time.
__attribute__((target("avx2,fma"))) inline __m256 dot_lanes(const float* e, const float* x, std::int64_t D) {
  __m256 a = _mm256_mul_ps(_mm256_loadu_ps(e), _mm256_loadu_ps(x));
  for (std::int64_t d = 8; d < D; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(e + d), _mm256_loadu_ps(x + d), a);
  return a;
}

// Item i..i+7's sums e . x, each item's lanes summed as dot_lanes sums them
// and reduced in the lane order the tail below repeats. The eight items'
// multiply-add chains advance together, one dimension block at a time (as
// eight calls of dot_lanes the chains ran one after another: 17% slower on
// a table in L2).
__attribute__((target("avx2,fma"))) inline __m256 eight_dots(const float* e, const float* x, std::int64_t D) {
  __m256 a[8];
  const __m256 x0 = _mm256_loadu_ps(x);
  for (int j = 0; j < 8; ++j) a[j] = _mm256_mul_ps(_mm256_loadu_ps(e + j * D), x0);
  for (std::int64_t d = 8; d < D; d += 8) {
    const __m256 xd = _mm256_loadu_ps(x + d);
    for (int j = 0; j < 8; ++j) a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(e + j * D + d), xd, a[j]);
  }
  const __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
  // Lane j of the low half holds item j's low-half sum, of the high half its high-half sum.
  return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

__attribute__((target("avx2,fma"))) void one_row_dots_avx2(const float* E, std::int64_t n, std::int64_t D,
                                                            const float* x, const float* bias, float* out) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_add_ps(eight_dots(E + i * D, x, D), _mm256_loadu_ps(bias + i)));
  for (; i < n; ++i) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, dot_lanes(E + i * D, x, D));
    // The order of eight_dots: pairs, then pairs of pairs, then halves.
    const float low = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    const float high = (lanes[4] + lanes[5]) + (lanes[6] + lanes[7]);
    out[i] = (low + high) + bias[i];
  }
}
#endif

OneRowDots one_row_dots_for(std::int64_t D) {
#ifdef LIMELIGHT_DOTS_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2 && D % 8 == 0 && D > 0) return one_row_dots_avx2;
#endif
  return one_row_dots_blas;
}

// Scores of items [v0, v0 + n) for every row into out (rows, ld); `work`
// holds 2 M score_block floats for the mixture head.
void score_block_into(const Catalogue& c, std::int64_t v0, std::int64_t n, float* out, std::int64_t ld, float* work) {
  const float* E = c.table + v0 * c.D;
  const auto D = static_cast<blasint>(c.D), N = static_cast<blasint>(n);
  if (c.M == 0) {
    if (c.rows == 1) return one_row_dots_for(c.D)(E, n, c.D, c.states, c.bias + v0, out);
    for (std::int64_t r = 0; r < c.rows; ++r) std::memcpy(out + r * ld, c.bias + v0, sizeof(float) * n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(c.rows), N, D, 1.0f, c.states, D, E, D,
                1.0f, out, static_cast<blasint>(ld));
    return;
  }
  float w[64 * mix_block];
  for (std::int64_t r = 0; r < c.rows; ++r) {
    // Taste then attention dot products of row r with every item of the block.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(2 * c.M), N, D, 1.0f,
                c.states + r * 2 * c.M * c.D, D, E, D, 0.0f, work, N);
    float* dst = out + r * ld;
    for (std::int64_t m0 = 0; m0 < n; m0 += mix_block) {
      const std::int64_t count = std::min(mix_block, n - m0);
      mixture_mix(work + c.M * n + m0, work + m0, n, c.M, count, w, dst + m0);
      for (std::int64_t i = 0; i < count; ++i) dst[m0 + i] += c.bias[v0 + m0 + i];
    }
  }
}

// Threads worth using: one unless the catalogue pass is large.
int catalogue_threads(const Catalogue& c) {
  const std::int64_t work = c.rows * c.V * c.D * (c.M > 0 ? 2 * c.M : 1);
  return work >= (1 << 19) ? num_threads() : 1;
}

// better = higher score, then lower id: a total order on distinct items.
inline bool better(const ScoredItem& a, const ScoredItem& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

// A min-heap of the best `cap` so far (worst on top) in caller memory.
struct BoundedHeap {
  ScoredItem* items;
  std::size_t size, cap;
  void offer(const ScoredItem& r) {
    if (size < cap) {
      items[size++] = r;
      std::push_heap(items, items + size, better);
    } else if (better(r, items[0])) {
      std::pop_heap(items, items + size, better);
      items[size - 1] = r;
      std::push_heap(items, items + size, better);
    }
  }
};

// Offers the scores s[0, n) of items v0 + i, in id order, to a row's heap in
// groups of `group`. Items arrive in id order, so a full heap's worst (a lower
// id) wins ties; a group with no score above it is skipped in one vector test
// (cloned for AVX2: at SSE width the test was a fifth of a batch of 64 rows).
LL_SIMD_CLONES void offer_scores(BoundedHeap& heap, const float* s, std::int64_t n, std::int64_t v0,
                  const unsigned char* excluded, std::int64_t group) {
  for (std::int64_t g = 0; g < n; g += group) {
    const std::int64_t end = std::min(n, g + group);
    if (heap.size == heap.cap) {
      const float worst = heap.items[0].score;
      bool any = false;
      for (std::int64_t v = g; v < end; ++v) any |= s[v] > worst;
      if (!any) continue;
    }
    for (std::int64_t v = g; v < end; ++v) {
      if (heap.size == heap.cap && !(s[v] > heap.items[0].score)) continue;
      if (excluded[v0 + v]) continue;
      heap.offer(ScoredItem{static_cast<std::int32_t>(v0 + v), s[v]});
    }
  }
}

// One row's scores of items [v0, v0 + n) offered to its heap with the
// heap's test made in registers: each eight scores are computed as
// one_row_dots_avx2 computes them (so the same bits), and once the heap is
// full a group with none above its worst is dropped without being stored.
// The scores do not make a second pass through a buffer. Null where the
// kernel does not apply (then score_block_into and offer_scores).
using OneRowTopK = void (*)(const float* E, std::int64_t n, std::int64_t D, const float* x, const float* bias,
                            std::int64_t v0, const unsigned char* excluded, BoundedHeap& heap);

// Out of line on purpose: with the heap's code inlined into the scan, GCC
// kept the scan's loop variables on the stack, and a recommend over 1,683
// items took twice as long as scoring and a separate heap pass.
__attribute__((noinline)) void offer_scores_outlined(BoundedHeap& heap, const float* s, std::int64_t n, std::int64_t v0,
                                                     const unsigned char* excluded) {
  offer_scores(heap, s, n, v0, excluded, 8);
}

#ifdef LIMELIGHT_DOTS_AVX2

__attribute__((target("avx2,fma"))) void one_row_top_k_avx2(const float* E, std::int64_t n, std::int64_t D,
                                                             const float* x, const float* bias, std::int64_t v0,
                                                             const unsigned char* excluded, BoundedHeap& heap) {
  alignas(32) float scores[8];
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 s = _mm256_add_ps(eight_dots(E + i * D, x, D), _mm256_loadu_ps(bias + v0 + i));
    if (heap.size == heap.cap &&
        _mm256_movemask_ps(_mm256_cmp_ps(s, _mm256_set1_ps(heap.items[0].score), _CMP_GT_OQ)) == 0)
      continue;
    _mm256_store_ps(scores, s);
    offer_scores_outlined(heap, scores, 8, v0 + i, excluded);
  }
  if (i < n) {
    one_row_dots_avx2(E + i * D, n - i, D, x, bias + v0 + i, scores);
    offer_scores_outlined(heap, scores, n - i, v0 + i, excluded);
  }
}
#endif

OneRowTopK one_row_top_k_for(const Catalogue& c) {
#ifdef LIMELIGHT_DOTS_AVX2
  if (c.rows == 1 && c.M == 0 && one_row_dots_for(c.D) == one_row_dots_avx2) return one_row_top_k_avx2;
#endif
  return nullptr;
}

}  // namespace

void CpuBackend::score_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias,
                                 std::int64_t V, std::int64_t D, std::int64_t M, float* scores, Arena& scratch) {
  const Catalogue c{states, rows, table, bias, V, D, M};
  const std::int64_t blocks = (V + score_block - 1) / score_block;
  const int threads = catalogue_threads(c);
  const std::int64_t work_size = 2 * M * score_block;
  Tensor work = scratch.tensor(Shape{std::max<std::int64_t>(threads * work_size, 1)});
  parallel_chunks(threads, blocks, 2, [&](int chunk, std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t v0 = b * score_block;
      score_block_into(c, v0, std::min(score_block, V - v0), scores + v0, V, work.f32() + chunk * work_size);
    }
  });
}

void CpuBackend::top_k_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias,
                                 std::int64_t V, std::int64_t D, std::int64_t M, const unsigned char* excluded, int k,
                                 ScoredItem* out, std::size_t* counts, Arena& scratch) {
  const Catalogue c{states, rows, table, bias, V, D, M};
  const std::int64_t blocks = (V + score_block - 1) / score_block;
  const int threads = catalogue_threads(c);
  const auto cap = static_cast<std::size_t>(std::min<std::int64_t>(k, V));
  // Per thread: the block's scores (rows, score_block), the mixture work, and
  // one heap of `cap` per row (ScoredItem is two 4-byte words).
  const std::int64_t block_floats = rows * score_block + 2 * M * score_block;
  const auto heap_words = static_cast<std::int64_t>(2 * cap) * rows;
  Tensor buffers = scratch.tensor(Shape{threads * block_floats});
  Tensor heaps = scratch.tensor(Shape{threads * heap_words}, DType::i32);
  Tensor sizes = scratch.tensor(Shape{threads * rows * 2}, DType::i32);  // a size_t per heap
  auto* all_heaps = reinterpret_cast<ScoredItem*>(heaps.i32());
  auto* heap_sizes = reinterpret_cast<std::size_t*>(sizes.i32());
  const OneRowTopK fused_one_row = one_row_top_k_for(c);
  const int chunks = parallel_chunks(threads, blocks, 2, [&](int chunk, std::int64_t b0, std::int64_t b1) {
    float* block = buffers.f32() + chunk * block_floats;
    ScoredItem* mine = all_heaps + static_cast<std::int64_t>(cap) * rows * chunk;
    std::size_t* mine_sizes = heap_sizes + rows * chunk;
    std::fill(mine_sizes, mine_sizes + rows, std::size_t{0});
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t v0 = b * score_block, n = std::min(score_block, V - v0);
      if (fused_one_row != nullptr) {
        BoundedHeap heap{mine, mine_sizes[0], cap};
        fused_one_row(table + v0 * D, n, D, states, bias, v0, excluded, heap);
        mine_sizes[0] = heap.size;
        continue;
      }
      score_block_into(c, v0, n, block, score_block, block + rows * score_block);
      for (std::int64_t r = 0; r < rows; ++r) {
        BoundedHeap heap{mine + r * static_cast<std::int64_t>(cap), mine_sizes[r], cap};
        offer_scores(heap, block + r * score_block, n, v0, excluded, 16);
        mine_sizes[r] = heap.size;
      }
    }
  });
  // Merge the threads' heaps row by row into the first thread's, then sort.
  for (std::int64_t r = 0; r < rows; ++r) {
    BoundedHeap heap{all_heaps + r * static_cast<std::int64_t>(cap), heap_sizes[r], cap};
    for (int ch = 1; ch < chunks; ++ch) {
      const ScoredItem* theirs = all_heaps + (static_cast<std::int64_t>(ch) * rows + r) * static_cast<std::int64_t>(cap);
      for (std::size_t i = 0; i < heap_sizes[rows * ch + r]; ++i) heap.offer(theirs[i]);
    }
    std::sort_heap(heap.items, heap.items + heap.size, better);
    std::copy(heap.items, heap.items + heap.size, out + r * static_cast<std::int64_t>(k));
    counts[r] = heap.size;
  }
}

std::size_t CpuBackend::top_k(const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                              ScoredItem* out) {
  BoundedHeap heap{out, 0, static_cast<std::size_t>(std::min<std::int64_t>(k, V))};
  for (std::int32_t v = 0; v < V; ++v)
    if (!excluded[v]) heap.offer(ScoredItem{v, scores[v]});
  std::sort_heap(out, out + heap.size, better);
  return heap.size;
}

}  // namespace limelight::cpu

// ---- The int8 item table (backend/cpu/quantised_table.hpp) ----

namespace limelight::cpu {

QuantisedTable quantise_item_table(const float* table, const float* bias, std::int64_t V, std::int64_t D) {
  constexpr std::int64_t G = QuantisedTable::group;
  QuantisedTable q;
  q.V = V;
  q.D = D;
  const std::int64_t groups = (V + G - 1) / G;
  q.values.assign(static_cast<std::size_t>(groups * D * G), 0);
  q.scales.assign(static_cast<std::size_t>(groups * G), 0.0f);
  // A chain of D products and two additions in either computation, with
  // float32's unit roundoff doubled for slack: gamma_n = n u / (1 - n u).
  const double u = std::ldexp(1.0, -23), n = static_cast<double>(D + 2);
  const double gamma = n * u / (1.0 - n * u);
  double worst_row = 0.0, worst_bias = 0.0;
  bool finite = true;
  for (std::int64_t v = 0; v < V; ++v) {
    const float* e = table + v * D;
    float amax = 0.0f;
    for (std::int64_t d = 0; d < D; ++d) {
      finite &= std::isfinite(e[d]);
      amax = std::max(amax, std::fabs(e[d]));
    }
    finite &= std::isfinite(bias[v]);
    const float scale = amax / 127.0f;
    q.scales[static_cast<std::size_t>(v)] = scale;
    double row_error = 0.0;
    std::int8_t* dst = q.values.data() + (v / G) * D * G + v % G;
    for (std::int64_t d = 0; d < D; ++d) {
      const long level = scale > 0.0f ? std::clamp(std::lround(e[d] / scale), -127L, 127L) : 0L;
      dst[d * G] = static_cast<std::int8_t>(level);
      // Against the exact product (the one-row scan scales the sum) and the
      // float32 one (the several-row scan dequantises first).
      const double exact = static_cast<double>(scale) * static_cast<double>(level);
      const double rounded = static_cast<double>(scale * static_cast<float>(level));
      row_error = std::max({row_error, std::fabs(e[d] - exact), std::fabs(e[d] - rounded)});
    }
    // Rounding of the float32 path (|e| <= amax) and of the scan (|s q| <=
    // amax too, a hair over after rounding).
    worst_row = std::max(worst_row, row_error + 2.0 * gamma * 1.001 * static_cast<double>(amax));
    worst_bias = std::max(worst_bias, 2.0 * gamma * std::fabs(static_cast<double>(bias[v])));
  }
  // Margin over the second-order terms the gamma bounds leave out.
  q.error_per_l1 = finite ? worst_row * 1.01 : std::numeric_limits<double>::infinity();
  q.bias_error = worst_bias * 1.01;
  return q;
}

namespace {

constexpr std::int64_t G = QuantisedTable::group;

// Approximate scores of one group of G items for one state into out (G):
// b + s (x . q), converting each int8 to float. Any summation order is within
// the gamma bound of quantise_item_table.
bool scan_group_one_row_portable(const QuantisedTable& q, std::int64_t g, const float* x, const float* bias,
                                 float* out, bool full, float worst) {
  const std::int64_t D = q.D;
  const std::int8_t* values = q.values.data() + g * D * G;
  const float* scale = q.scales.data() + g * G;
  const std::int64_t v0 = g * G, n = std::min(G, q.V - v0);
  float acc[G] = {};
  for (std::int64_t d = 0; d < D; ++d) {
    const float xd = x[d];
    const std::int8_t* col = values + d * G;
    for (std::int64_t i = 0; i < G; ++i) acc[i] += xd * static_cast<float>(col[i]);
  }
  bool any = !full;
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = bias[v0 + i] + scale[i] * acc[i];
    any |= out[i] > worst;
  }
  return any;
}

#if defined(__x86_64__) || defined(__i386__)
#define LIMELIGHT_INT8_AVX2 1
// Eight int8 values as eight floats.
__attribute__((target("avx2,fma"))) inline __m256 int8x8_to_float(const std::int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// The same scores with AVX2: each dimension's 16 int8 values sign-extended to
// two vectors of 8 int32, converted and multiply-added; dimensions alternate
// between two pairs of accumulators so consecutive FMAs do not wait on each
// other. The padded tail of the last group is computed and not stored.
__attribute__((target("avx2,fma"))) bool scan_group_one_row_avx2(const QuantisedTable& q, std::int64_t g,
                                                                  const float* x, const float* bias, float* out,
                                                                  bool full, float worst) {
  static_assert(G == 16, "the AVX2 scan handles groups of 16 items");
  const std::int64_t D = q.D;
  const std::int8_t* values = q.values.data() + g * D * G;
  const float* scale = q.scales.data() + g * G;
  const std::int64_t v0 = g * G, n = std::min(G, q.V - v0);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
  std::int64_t d = 0;
  for (; d + 1 < D; d += 2) {
    const std::int8_t* col = values + d * G;
    const __m256 x0 = _mm256_set1_ps(x[d]), x1 = _mm256_set1_ps(x[d + 1]);
    a0 = _mm256_fmadd_ps(int8x8_to_float(col), x0, a0);
    a1 = _mm256_fmadd_ps(int8x8_to_float(col + 8), x0, a1);
    b0 = _mm256_fmadd_ps(int8x8_to_float(col + 16), x1, b0);
    b1 = _mm256_fmadd_ps(int8x8_to_float(col + 24), x1, b1);
  }
  if (d < D) {
    const std::int8_t* col = values + d * G;
    const __m256 x0 = _mm256_set1_ps(x[d]);
    a0 = _mm256_fmadd_ps(int8x8_to_float(col), x0, a0);
    a1 = _mm256_fmadd_ps(int8x8_to_float(col + 8), x0, a1);
  }
  a0 = _mm256_mul_ps(_mm256_add_ps(a0, b0), _mm256_loadu_ps(scale));
  a1 = _mm256_mul_ps(_mm256_add_ps(a1, b1), _mm256_loadu_ps(scale + 8));
  if (n < G) {  // the last group: its bias ends at item V
    alignas(32) float acc[G];
    _mm256_store_ps(acc, a0);
    _mm256_store_ps(acc + 8, a1);
    bool any = !full;
    for (std::int64_t i = 0; i < n; ++i) {
      out[i] = bias[v0 + i] + acc[i];
      any |= out[i] > worst;
    }
    return any;
  }
  // A full group is tested against the heap's worst in registers and only
  // stored when one of its scores could enter the heap.
  const __m256 s0 = _mm256_add_ps(_mm256_loadu_ps(bias + v0), a0);
  const __m256 s1 = _mm256_add_ps(_mm256_loadu_ps(bias + v0 + 8), a1);
  if (full) {
    const __m256 w = _mm256_set1_ps(worst);
    if ((_mm256_movemask_ps(_mm256_cmp_ps(s0, w, _CMP_GT_OQ)) | _mm256_movemask_ps(_mm256_cmp_ps(s1, w, _CMP_GT_OQ))) == 0)
      return false;
  }
  _mm256_storeu_ps(out, s0);
  _mm256_storeu_ps(out + 8, s1);
  return true;
}
#endif

bool portable_forced = false;

// Writes the approximate scores of group g to out and returns true, or
// returns false (out unspecified) when the heap is full and none of them
// is above its worst, so that offering them could change nothing.
using OneRowScan = bool (*)(const QuantisedTable&, std::int64_t, const float*, const float*, float*, bool, float);

OneRowScan one_row_scan() {
#ifdef LIMELIGHT_INT8_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2 && !portable_forced) return scan_group_one_row_avx2;
#endif
  return scan_group_one_row_portable;
}

// Items per dequantised block of the several-row scan, as the float32 path's
// score_block: a block of floats and its (rows, block) scores stay in cache.
constexpr std::int64_t dequant_groups = score_block / G;

// Approximate scores of groups [g0, g1) (at most dequant_groups) for `rows`
// states into out (rows, ld): the groups dequantised to a row-major float
// block (each value fl(s q), as quantise_item_table bounds) and scored by one
// sgemm over it, as the float32 path scores its table.
void scan_groups_rows(const QuantisedTable& q, std::int64_t g0, std::int64_t g1, const float* states,
                      std::int64_t rows, const float* bias, float* converted, float* out, std::int64_t ld) {
  const std::int64_t D = q.D, v0 = g0 * G, n = std::min(g1 * G, q.V) - v0;
  for (std::int64_t g = g0; g < g1; ++g) {
    const std::int8_t* values = q.values.data() + g * D * G;
    const float* scale = q.scales.data() + g * G;
    float* dst = converted + (g - g0) * G * D;
    for (std::int64_t i = 0; i < G; ++i)
      for (std::int64_t d = 0; d < D; ++d) dst[i * D + d] = scale[i] * static_cast<float>(values[d * G + i]);
  }
  for (std::int64_t r = 0; r < rows; ++r) std::memcpy(out + r * ld, bias + v0, sizeof(float) * n);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(n),
              static_cast<blasint>(D), 1.0f, states, static_cast<blasint>(D), converted, static_cast<blasint>(D), 1.0f,
              out, static_cast<blasint>(ld));
}

// A candidate to rescore: its row, its float32 block and where it sits in
// the row's candidate list.
struct Rescore {
  std::int64_t block, row, slot;
};

}  // namespace

void force_portable_int8_scan(bool portable) { portable_forced = portable; }

namespace {
std::atomic<std::int64_t> min_table_bytes{std::int64_t{32} << 20};
}

bool int8_table_pays(std::int64_t V, std::int64_t D) {
  return V * D * static_cast<std::int64_t>(sizeof(float)) > min_table_bytes.load(std::memory_order_relaxed);
}
void set_int8_min_table_bytes(std::int64_t bytes) { min_table_bytes.store(std::max<std::int64_t>(bytes, 0)); }
std::int64_t int8_min_table_bytes() { return min_table_bytes.load(std::memory_order_relaxed); }

const char* int8_scan_kernel() { return one_row_scan() == scan_group_one_row_portable ? "portable" : "avx2"; }

void top_k_catalogue_int8(const QuantisedTable& q, const float* states, std::int64_t rows, const float* table,
                          const float* bias, const unsigned char* excluded, int k, backend::ScoredItem* out,
                          std::size_t* counts, Arena& scratch, QuantisedTopKStats* stats) {
  const std::int64_t V = q.V, D = q.D;
  QuantisedTopKStats local;
  QuantisedTopKStats& st = stats ? *stats : local;
  st = {};
  auto fall_back = [&] {
    st.fell_back = true;
    backend::get(Device::cpu).top_k_catalogue(states, rows, table, bias, V, D, 0, excluded, k, out, counts, scratch);
  };
  if (rows > int8_scan_max_rows) {
    fall_back();
    st.batch_direct = true;
    return;
  }
  // Each row's margin: twice the bound on |float32 score - approximate score|.
  thread_local std::vector<double> margin;
  margin.assign(static_cast<std::size_t>(rows), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    double l1 = 0.0;
    for (std::int64_t d = 0; d < D; ++d) l1 += std::fabs(static_cast<double>(states[r * D + d]));
    margin[static_cast<std::size_t>(r)] = 2.0 * q.score_bound(l1);
    if (!std::isfinite(margin[static_cast<std::size_t>(r)])) return fall_back();
  }

  // Pass 1: each row's best `cap` approximate scores, one pass over the int8
  // table split across the threads like the float32 pass.
  const auto want = static_cast<std::size_t>(std::min<std::int64_t>(k, V));
  const std::size_t cap = std::min<std::size_t>(static_cast<std::size_t>(V), std::max<std::size_t>(4 * want, want + 256));
  const std::int64_t groups = (V + G - 1) / G;
  const int threads = rows * V * D >= (1 << 19) ? num_threads() : 1;
  const std::int64_t thread_floats = rows == 1 ? G : dequant_groups * G * (D + rows);
  Tensor buffers = scratch.tensor(Shape{threads * thread_floats});
  Tensor heaps = scratch.tensor(Shape{static_cast<std::int64_t>(threads * 2 * cap) * rows}, DType::i32);
  Tensor sizes = scratch.tensor(Shape{threads * rows * 2}, DType::i32);
  auto* all_heaps = reinterpret_cast<ScoredItem*>(heaps.i32());
  auto* heap_sizes = reinterpret_cast<std::size_t*>(sizes.i32());
  const OneRowScan scan_one = one_row_scan();
  const int chunks = parallel_chunks(threads, groups, 2, [&](int chunk, std::int64_t g0, std::int64_t g1) {
    float* converted = buffers.f32() + chunk * thread_floats;
    float* approx = rows == 1 ? converted : converted + dequant_groups * G * D;
    const std::int64_t ld = rows == 1 ? G : dequant_groups * G;
    ScoredItem* mine = all_heaps + static_cast<std::int64_t>(cap) * rows * chunk;
    std::size_t* mine_sizes = heap_sizes + rows * chunk;
    std::fill(mine_sizes, mine_sizes + rows, std::size_t{0});
    const std::int64_t step = rows == 1 ? 1 : dequant_groups;
    for (std::int64_t g = g0; g < g1; g += step) {
      const std::int64_t g_end = std::min(g + step, g1);
      const std::int64_t v0 = g * G, n = std::min(g_end * G, V) - v0;
      if (rows == 1) {
        BoundedHeap heap{mine, mine_sizes[0], cap};
        const bool full = heap.size == heap.cap;
        if (scan_one(q, g, states, bias, approx, full, full ? heap.items[0].score : 0.0f)) {
          offer_scores_outlined(heap, approx, n, v0, excluded);
          mine_sizes[0] = heap.size;
        }
        continue;
      }
      scan_groups_rows(q, g, g_end, states, rows, bias, converted, approx, ld);
      for (std::int64_t r = 0; r < rows; ++r) {
        BoundedHeap heap{mine + r * static_cast<std::int64_t>(cap), mine_sizes[r], cap};
        offer_scores(heap, approx + r * ld, n, v0, excluded, G);
        mine_sizes[r] = heap.size;
      }
    }
  });

  // Each row's candidates: every item whose approximate score is within the
  // margin of the k-th best approximate score. The exact top k are among
  // them: k items score at least a_k - bound exactly, so the k-th best exact
  // score does too, and each of the exact top k then has an approximate
  // score >= a_k - 2 bound. If the heap dropped an item above that line, the
  // candidates are incomplete and the float32 pass answers instead.
  thread_local std::vector<std::size_t> first, count;  // each row's candidates in all_heaps
  thread_local std::vector<Rescore> rescore;
  first.assign(static_cast<std::size_t>(rows), 0);
  count.assign(static_cast<std::size_t>(rows), 0);
  rescore.clear();
  for (std::int64_t r = 0; r < rows; ++r) {
    ScoredItem* items = all_heaps + r * static_cast<std::int64_t>(cap);
    BoundedHeap heap{items, heap_sizes[r], cap};
    for (int ch = 1; ch < chunks; ++ch) {
      const ScoredItem* theirs = all_heaps + (static_cast<std::int64_t>(ch) * rows + r) * static_cast<std::int64_t>(cap);
      for (std::size_t i = 0; i < heap_sizes[rows * ch + r]; ++i) heap.offer(theirs[i]);
    }
    std::sort_heap(items, items + heap.size, better);
    double line = -std::numeric_limits<double>::infinity();
    if (heap.size >= want) line = static_cast<double>(items[want - 1].score) - margin[static_cast<std::size_t>(r)];
    // (A heap of all V items never dropped one.)
    if (cap < static_cast<std::size_t>(V) && heap.size == cap && static_cast<double>(items[cap - 1].score) >= line)
      return fall_back();
    std::size_t n = 0;
    while (n < heap.size && static_cast<double>(items[n].score) >= line) ++n;
    first[static_cast<std::size_t>(r)] = static_cast<std::size_t>(r) * cap;
    count[static_cast<std::size_t>(r)] = n;
    for (std::size_t i = 0; i < n; ++i)
      rescore.push_back(Rescore{items[i].item / score_block, r, static_cast<std::int64_t>(i)});
  }

  // Pass 2: the float32 path's own block computation (the same call on the
  // same block, so the same scores) for every block holding a candidate.
  std::sort(rescore.begin(), rescore.end(), [](const Rescore& a, const Rescore& b) { return a.block < b.block; });
  thread_local std::vector<std::size_t> block_starts;
  block_starts.clear();
  for (std::size_t i = 0; i < rescore.size(); ++i)
    if (i == 0 || rescore[i].block != rescore[i - 1].block) block_starts.push_back(i);
  const auto touched = static_cast<std::int64_t>(block_starts.size());
  const std::int64_t blocks = (V + score_block - 1) / score_block;
  st.candidates = static_cast<std::int64_t>(rescore.size());
  st.blocks_rescored = touched;
  if (2 * touched > blocks) return fall_back();  // cheaper to score everything
  block_starts.push_back(rescore.size());
  const Catalogue c{states, rows, table, bias, V, D, 0};
  const int rescore_threads = rows * touched * score_block * D >= (1 << 19) ? threads : 1;
  Tensor exact = scratch.tensor(Shape{rescore_threads * rows * score_block});
  // The workers must read this thread's lists: a thread_local named inside
  // the lambda would be each worker's own (empty) one.
  const auto& starts_of = block_starts;
  const auto& to_rescore = rescore;
  const auto& first_of = first;
  st.rescore_threads = parallel_chunks(rescore_threads, touched, 2, [&](int chunk, std::int64_t t0, std::int64_t t1) {
    float* block = exact.f32() + chunk * rows * score_block;
    for (std::int64_t t = t0; t < t1; ++t) {
      const auto lo = starts_of[static_cast<std::size_t>(t)], hi = starts_of[static_cast<std::size_t>(t) + 1];
      const std::int64_t v0 = to_rescore[lo].block * score_block;
      score_block_into(c, v0, std::min(score_block, V - v0), block, score_block, nullptr);
      for (std::size_t i = lo; i < hi; ++i) {
        ScoredItem& item = all_heaps[first_of[static_cast<std::size_t>(to_rescore[i].row)] + to_rescore[i].slot];
        item.score = block[to_rescore[i].row * score_block + (item.item - v0)];
      }
    }
  });
  for (std::int64_t r = 0; r < rows; ++r) {
    ScoredItem* items = all_heaps + first[static_cast<std::size_t>(r)];
    const std::size_t n = count[static_cast<std::size_t>(r)], m = std::min(n, want);
    std::partial_sort(items, items + m, items + n, better);
    std::copy(items, items + m, out + r * static_cast<std::int64_t>(k));
    counts[r] = m;
  }
}

}  // namespace limelight::cpu
