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
// The int8 copy of the table (quantised_table.cpp) rescores its candidates
// through score_block_into (scoring.hpp).
#include <cblas.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/mixture_head.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/cpu/scoring.hpp"

namespace limelight::cpu {

namespace {

using backend::ScoredItem;

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

}  // namespace

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

namespace {

// Threads worth using: one unless the catalogue pass is large.
int catalogue_threads(const Catalogue& c) {
  const std::int64_t work = c.rows * c.V * c.D * (c.M > 0 ? 2 * c.M : 1);
  return work >= (1 << 19) ? num_threads() : 1;
}

}  // namespace

// Offers the scores s[0, n) of items v0 + i, in id order, to a row's heap in
// groups of `group`. Items arrive in id order, so a full heap's worst (a lower
// id) wins ties; a group with no score above it is skipped in one vector test
// (cloned for AVX2: at SSE width the test was a fifth of a batch of 64 rows).
LL_SIMD_CLONES void offer_scores(ScoredHeap& heap, const float* s, std::int64_t n, std::int64_t v0,
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

// Out of line on purpose: with the heap's code inlined into the scan, GCC
// kept the scan's loop variables on the stack, and a recommend over 1,683
// items took twice as long as scoring and a separate heap pass.
__attribute__((noinline)) void offer_scores_outlined(ScoredHeap& heap, const float* s, std::int64_t n, std::int64_t v0,
                                                     const unsigned char* excluded) {
  offer_scores(heap, s, n, v0, excluded, 8);
}

namespace {

// One row's scores of items [v0, v0 + n) offered to its heap with the
// heap's test made in registers: each eight scores are computed as
// one_row_dots_avx2 computes them (so the same bits), and once the heap is
// full a group with none above its worst is dropped without being stored.
// The scores do not make a second pass through a buffer. Null where the
// kernel does not apply (then score_block_into and offer_scores).
using OneRowTopK = void (*)(const float* E, std::int64_t n, std::int64_t D, const float* x, const float* bias,
                            std::int64_t v0, const unsigned char* excluded, ScoredHeap& heap);

#ifdef LIMELIGHT_DOTS_AVX2

__attribute__((target("avx2,fma"))) void one_row_top_k_avx2(const float* E, std::int64_t n, std::int64_t D,
                                                             const float* x, const float* bias, std::int64_t v0,
                                                             const unsigned char* excluded, ScoredHeap& heap) {
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
        ScoredHeap heap{mine, mine_sizes[0], cap};
        fused_one_row(table + v0 * D, n, D, states, bias, v0, excluded, heap);
        mine_sizes[0] = heap.size;
        continue;
      }
      score_block_into(c, v0, n, block, score_block, block + rows * score_block);
      for (std::int64_t r = 0; r < rows; ++r) {
        ScoredHeap heap{mine + r * static_cast<std::int64_t>(cap), mine_sizes[r], cap};
        offer_scores(heap, block + r * score_block, n, v0, excluded, 16);
        mine_sizes[r] = heap.size;
      }
    }
  });
  // Merge the threads' heaps row by row into the first thread's, then sort.
  for (std::int64_t r = 0; r < rows; ++r) {
    ScoredHeap heap{all_heaps + r * static_cast<std::int64_t>(cap), heap_sizes[r], cap};
    for (int ch = 1; ch < chunks; ++ch) {
      const ScoredItem* theirs = all_heaps + (static_cast<std::int64_t>(ch) * rows + r) * static_cast<std::int64_t>(cap);
      for (std::size_t i = 0; i < heap_sizes[rows * ch + r]; ++i) heap.offer(theirs[i]);
    }
    heap.sort();
    std::copy(heap.items, heap.items + heap.size, out + r * static_cast<std::int64_t>(k));
    counts[r] = heap.size;
  }
}

std::size_t CpuBackend::top_k(const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                              ScoredItem* out) {
  ScoredHeap heap{out, 0, static_cast<std::size_t>(std::min<std::int64_t>(k, V))};
  for (std::int32_t v = 0; v < V; ++v)
    if (!excluded[v]) heap.offer(ScoredItem{v, scores[v]});
  heap.sort();
  return heap.size;
}

}  // namespace limelight::cpu
