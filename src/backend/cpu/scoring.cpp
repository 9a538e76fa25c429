// Serving on the CPU: final states scored against the whole catalogue and
// the top k by a bounded heap. The catalogue is cut into fixed blocks of
// items; each thread takes a contiguous run of blocks, scores a block for all
// rows into a buffer that stays in cache (a GEMV for one row, a GEMM for
// several, the mixture head over a GEMM's dot products) and either copies it
// out (score_catalogue) or feeds it to per-row heaps (top_k_catalogue), so the
// table is read once, by all cores, and top-k never writes a (rows, V) matrix.
// Block boundaries do not depend on the thread count, so neither do scores;
// the top k under "higher score, then lower id" is unique, so merging the
// threads' heaps gives the same answer for any split.
#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/mixture_head.hpp"
#include "backend/cpu/parallel.hpp"

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

// Scores of items [v0, v0 + n) for every row into out (rows, ld); `work`
// holds 2 M score_block floats for the mixture head.
void score_block_into(const Catalogue& c, std::int64_t v0, std::int64_t n, float* out, std::int64_t ld, float* work) {
  const float* E = c.table + v0 * c.D;
  const auto D = static_cast<blasint>(c.D), N = static_cast<blasint>(n);
  if (c.M == 0) {
    for (std::int64_t r = 0; r < c.rows; ++r) std::memcpy(out + r * ld, c.bias + v0, sizeof(float) * n);
    if (c.rows == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, N, D, 1.0f, E, D, c.states, 1, 1.0f, out, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(c.rows), N, D, 1.0f, c.states, D, E,
                  D, 1.0f, out, static_cast<blasint>(ld));
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
  const int chunks = parallel_chunks(threads, blocks, 2, [&](int chunk, std::int64_t b0, std::int64_t b1) {
    float* block = buffers.f32() + chunk * block_floats;
    ScoredItem* mine = all_heaps + static_cast<std::int64_t>(cap) * rows * chunk;
    std::size_t* mine_sizes = heap_sizes + rows * chunk;
    std::fill(mine_sizes, mine_sizes + rows, std::size_t{0});
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t v0 = b * score_block, n = std::min(score_block, V - v0);
      score_block_into(c, v0, n, block, score_block, block + rows * score_block);
      for (std::int64_t r = 0; r < rows; ++r) {
        BoundedHeap heap{mine + r * static_cast<std::int64_t>(cap), mine_sizes[r], cap};
        const float* s = block + r * score_block;
        for (std::int64_t g = 0; g < n; g += 16) {
          const std::int64_t end = std::min(n, g + 16);
          // Items arrive in id order, so a full heap's worst (a lower id) wins
          // ties; a group of scores none above it is skipped in one vector test.
          if (heap.size == cap) {
            const float worst = heap.items[0].score;
            bool any = false;
            for (std::int64_t v = g; v < end; ++v) any |= s[v] > worst;
            if (!any) continue;
          }
          for (std::int64_t v = g; v < end; ++v) {
            if (heap.size == cap && !(s[v] > heap.items[0].score)) continue;
            if (excluded[v0 + v]) continue;
            heap.offer(ScoredItem{static_cast<std::int32_t>(v0 + v), s[v]});
          }
        }
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
