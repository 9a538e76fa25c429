// The int8 item table (quantised_table.hpp): quantising the float32 table,
// the approximate scan of each row's candidates (one row: a per-group kernel,
// AVX2 or portable; several rows: dequantised blocks through sgemm), their
// exact rescoring by the float32 path's own block computation (scoring.hpp),
// and the knobs that choose the kernel and the smallest table served.
#include "backend/cpu/quantised_table.hpp"

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

#include "backend/cpu/parallel.hpp"
#include "backend/cpu/scoring.hpp"

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

using backend::ScoredItem;

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
        ScoredHeap heap{mine, mine_sizes[0], cap};
        const bool full = heap.size == heap.cap;
        if (scan_one(q, g, states, bias, approx, full, full ? heap.items[0].score : 0.0f)) {
          offer_scores_outlined(heap, approx, n, v0, excluded);
          mine_sizes[0] = heap.size;
        }
        continue;
      }
      scan_groups_rows(q, g, g_end, states, rows, bias, converted, approx, ld);
      for (std::int64_t r = 0; r < rows; ++r) {
        ScoredHeap heap{mine + r * static_cast<std::int64_t>(cap), mine_sizes[r], cap};
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
    ScoredHeap heap{items, heap_sizes[r], cap};
    for (int ch = 1; ch < chunks; ++ch) {
      const ScoredItem* theirs = all_heaps + (static_cast<std::int64_t>(ch) * rows + r) * static_cast<std::int64_t>(cap);
      for (std::size_t i = 0; i < heap_sizes[rows * ch + r]; ++i) heap.offer(theirs[i]);
    }
    heap.sort();
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
