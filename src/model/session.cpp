// Streaming sessions (include/limelight/session.hpp): the per-event update of
// each representation, catalogue scoring and top-k from a session's state,
// and the session byte format. The step math is written here on raw arrays
// (one event is a handful of small matrix-vector products, where a BLAS call
// costs more than it computes), and so is scoring, on a copy of the item
// embeddings blocked for it (see block_dots): sgemv on the row-major table,
// and sgemm's packing for the mixture, took several times longer.
//
// Session::floats_ layouts (D = embedding_dim, N = max_events, M = mixtures):
//   pooling   unbounded [sum D | count D | state D]; bounded [count D | state D], sums_ = window sums (double)
//   lstm      unbounded [h D | c D];                  bounded [chain h N*D | chain c N*D | state h D]
//   mixture   as lstm, then [representation 2*M*D]
//   cnn       [ring of layer 0's input S_0*D | ... | ring of the last layer's input | state D],
//             S_i = (k_i - 1) d_i + 1; input index m lives in slot m mod S_i
// Counts are floats starting at 1, as the model's running_pool divides.
#include "limelight/session.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "backend/cpu/cpu_math.hpp"
#include "limelight/error.hpp"

static_assert(std::endian::native == std::endian::little, "the session format is written little-endian");

namespace limelight {
namespace detail {

namespace {

enum class Rep : std::uint32_t { pooling = 0, cnn = 1, lstm = 2, mixture = 3 };

constexpr std::int64_t kMaxEvents = std::int64_t{1} << 24;
constexpr std::int64_t kMinSeenSlots = 16;

const char* rep_name(Rep r) {
  switch (r) {
    case Rep::pooling: return "pooling";
    case Rep::cnn: return "cnn";
    case Rep::lstm: return "lstm";
    case Rep::mixture: return "mixture";
  }
  return "?";
}

// A 64-bit hash of a byte stream (8-byte words through a multiply-rotate
// mix, then a final avalanche): the model fingerprint and the blob checksum.
class Hasher {
 public:
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      word(w);
    }
    std::uint64_t tail = 0;
    if (n > i) std::memcpy(&tail, p + i, n - i);
    word(tail ^ (static_cast<std::uint64_t>(n - i) << 56));
  }
  void u64(std::uint64_t v) { word(v); }
  std::uint64_t digest() const {
    std::uint64_t h = h_ ^ (h_ >> 33);
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
  }

 private:
  void word(std::uint64_t w) {
    h_ ^= std::rotl(w * 0x87c37b91114253d5ULL, 31) * 0x4cf5ad432745937fULL;
    h_ = std::rotl(h_, 27) * 5 + 0x52dce729;
  }
  std::uint64_t h_ = 0x243f6a8885a308d3ULL;
};

// out[o] += sum_c x[c] * wt[c * n_out + o]: a matrix-vector product with the
// matrix stored input-major, so the inner loop runs along contiguous outputs.
LL_SIMD_CLONES void add_product(float* __restrict out, const float* __restrict x, const float* __restrict wt,
                                std::int64_t n_in, std::int64_t n_out) {
  for (std::int64_t c = 0; c < n_in; ++c) {
    const float xc = x[c];
    const float* __restrict w = wt + c * n_out;
    for (std::int64_t o = 0; o < n_out; ++o) out[o] += xc * w[o];
  }
}

// One LSTM step for `rows` independent (h, c) rows sharing the input
// projection xz (4H: W_ih x + b_ih + b_hh); PyTorch's gate order i, f, g, o.
// z is scratch of 4H floats. FixedH > 0 compiles the loops for that size.
template <int FixedH>
LL_SIMD_CLONES void lstm_rows(const float* __restrict xz, const float* __restrict w_hh_t, float* __restrict h,
                              float* __restrict c, float* __restrict z, std::int64_t rows, std::int64_t runtime_h) {
  const std::int64_t H = FixedH > 0 ? FixedH : runtime_h, G = 4 * H;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* __restrict hr = h + r * H;
    float* __restrict cr = c + r * H;
    for (std::int64_t g = 0; g < G; ++g) z[g] = xz[g];
    for (std::int64_t k = 0; k < H; ++k) {
      const float hk = hr[k];
      const float* __restrict w = w_hh_t + k * G;
      for (std::int64_t g = 0; g < G; ++g) z[g] += hk * w[g];
    }
    for (std::int64_t k = 0; k < H; ++k) {
      const float i = cpu::fast_sigmoid(z[k]);
      const float f = cpu::fast_sigmoid(z[H + k]);
      const float g = cpu::fast_tanh(z[2 * H + k]);
      const float o = cpu::fast_sigmoid(z[3 * H + k]);
      const float cell = f * cr[k] + i * g;
      cr[k] = cell;
      hr[k] = o * cpu::fast_tanh(cell);
    }
  }
}

void lstm_step(const float* xz, const float* w_hh_t, float* h, float* c, float* z, std::int64_t rows, std::int64_t H) {
  switch (H) {
    case 16: lstm_rows<16>(xz, w_hh_t, h, c, z, rows, H); break;
    case 32: lstm_rows<32>(xz, w_hh_t, h, c, z, rows, H); break;
    case 64: lstm_rows<64>(xz, w_hh_t, h, c, z, rows, H); break;
    default: lstm_rows<0>(xz, w_hh_t, h, c, z, rows, H); break;
  }
}

// Mixture scores of `count` items from their dot products with the M tastes
// (rows 0..M-1 of dots, stride V) and the M attentions (rows M..2M-1):
// softmax over the attention logits, mixed tastes, plus the bias. Blocks of
// items keep every loop running along items, so they vectorise.
LL_SIMD_CLONES void mixture_mix(const float* __restrict dots, std::int64_t V, std::int64_t M, const float* __restrict bias,
                                std::int64_t first, std::int64_t count, float* __restrict out) {
  constexpr std::int64_t B = 64;
  float mx[B], z[B], s[B];
  for (std::int64_t v0 = first; v0 < first + count; v0 += B) {
    const std::int64_t n = std::min(B, first + count - v0);
    for (std::int64_t i = 0; i < n; ++i) {
      mx[i] = -INFINITY;
      z[i] = 0.0f;
      s[i] = 0.0f;
    }
    for (std::int64_t m = 0; m < M; ++m) {
      const float* __restrict att = dots + (M + m) * V + v0;
      for (std::int64_t i = 0; i < n; ++i) mx[i] = att[i] > mx[i] ? att[i] : mx[i];  // a blend, not std::max's branch
    }
    for (std::int64_t m = 0; m < M; ++m) {
      const float* __restrict att = dots + (M + m) * V + v0;
      const float* __restrict taste = dots + m * V + v0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float w = cpu::fast_exp(att[i] - mx[i]);
        z[i] += w;
        s[i] += w * taste[i];
      }
    }
    for (std::int64_t i = 0; i < n; ++i) out[v0 + i] = s[i] / z[i] + bias[v0 + i];
  }
}

// Scoring reads the item embeddings blocked by 16 items, component-major
// inside a block (blocked[(b * D + d) * 16 + i] = E[16 b + i, d]), so that
// every product runs along 16 contiguous items with one state value
// broadcast: the R state vectors' dot products with a whole block stay in
// registers. out[r * stride + v] = sum_d reps[r, d] E[v, d] (+ bias[v] when
// bias is given, R = 1).
constexpr std::int64_t kBlock = 16;

// 16 floats as one value: GCC and Clang vector extensions, one register under
// AVX-512 and four under SSE. (Written as plain loops, GCC vectorised along
// the wrong axis, with permutes, and ran 5x slower.)
typedef float Lanes __attribute__((vector_size(kBlock * sizeof(float))));

// The first v' >= v, in steps of 16, whose block of 16 scores holds one
// above `worst`, or the last start at or before `end - 16` (the caller
// finishes the tail one by one). The heap's threshold only rises, so blocks
// skipped here could never enter it.
LL_SIMD_CLONES std::int64_t skip_blocks(const float* __restrict scores, std::int64_t v, std::int64_t end,
                                        float worst) {
  for (; v + kBlock <= end; v += kBlock) {
    int any = 0;
    for (std::int64_t i = 0; i < kBlock; ++i) any |= scores[v + i] > worst ? 1 : 0;
    if (any) return v;
  }
  return v;
}

// G blocks at a time give R * G independent accumulators: enough to hide
// the latency of the multiply-adds when R is small.
template <int FixedR, int G>
LL_SIMD_CLONES void block_dots(const float* __restrict blocked, std::int64_t blocks, std::int64_t D,
                               const float* __restrict reps, std::int64_t runtime_r, const float* __restrict bias,
                               float* __restrict out, std::int64_t stride) {
  const std::int64_t R = FixedR > 0 ? FixedR : runtime_r;
  constexpr std::int64_t kMaxR = FixedR > 0 ? FixedR : 128;
  Lanes acc[kMaxR][G];
  std::int64_t b = 0;
  auto run = [&](auto groups) {
    constexpr std::int64_t n = decltype(groups)::value;
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t g = 0; g < n; ++g) acc[r][g] = Lanes{};
    const float* __restrict e = blocked + b * D * kBlock;
    for (std::int64_t d = 0; d < D; ++d) {
      Lanes row[n];
      for (std::int64_t g = 0; g < n; ++g) std::memcpy(&row[g], e + (g * D + d) * kBlock, sizeof(Lanes));
      for (std::int64_t r = 0; r < R; ++r) {
        const float w = reps[r * D + d];
        for (std::int64_t g = 0; g < n; ++g) acc[r][g] += w * row[g];
      }
    }
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t g = 0; g < n; ++g) {
        if (bias != nullptr) {
          Lanes bv;
          std::memcpy(&bv, bias + (b + g) * kBlock, sizeof bv);
          acc[r][g] += bv;
        }
        std::memcpy(out + r * stride + (b + g) * kBlock, &acc[r][g], sizeof(Lanes));
      }
    b += n;
  };
  while (b + G <= blocks) run(std::integral_constant<std::int64_t, G>{});
  while (b < blocks) run(std::integral_constant<std::int64_t, 1>{});
}

// Per-thread buffers that only grow: scoring and step scratch.
float* thread_buffer(std::vector<float>& buffer, std::size_t n) {
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}
float* score_buffer(std::size_t n) {
  thread_local std::vector<float> buffer;
  return thread_buffer(buffer, n);
}
float* work_buffer(std::size_t n) {
  thread_local std::vector<float> buffer;
  return thread_buffer(buffer, n);
}

std::int64_t seen_slots_for(std::int64_t distinct) {
  return std::max<std::int64_t>(kMinSeenSlots, static_cast<std::int64_t>(std::bit_ceil(static_cast<std::uint64_t>(2 * distinct))));
}

// Writes into a buffer sized once up front.
class ByteWriter {
 public:
  explicit ByteWriter(std::size_t size) : bytes_(size) {}
  void raw(const void* data, std::size_t n) {
    if (n > 0) std::memcpy(bytes_.data() + at_, data, n);
    at_ += n;
  }
  template <class T>
  void value(const T& v) {
    raw(&v, sizeof v);
  }
  template <class T>
  void array(const std::vector<T>& v) {
    raw(v.data(), v.size() * sizeof(T));
  }
  std::size_t written() const { return at_; }
  std::vector<std::uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::size_t at_ = 0;
};

constexpr char kMagic[8] = {'L', 'L', 'S', 'E', 'S', 'S', 'N', '\x1a'};
constexpr std::uint32_t kFormatVersion = 1;
// magic, version, representation, fingerprint, max_events, events, four counts.
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8 + 8 + 4 * 8;

}  // namespace

struct CnnLayer {
  std::int64_t kernel = 1, dilation = 1, span = 1;
  std::vector<float> taps;  // (K, D, D): taps[(j * D + c) * D + o] = W[o, c, j]
  std::vector<float> bias;
  std::int64_t ring = 0;    // offset of this layer's input ring in Session::floats_
};

struct SessionPlan {
  const ImplicitSequenceModel* model = nullptr;
  Rep rep = Rep::pooling;
  std::int64_t V = 0, D = 0, M = 0, W = 0;
  const float* E = nullptr;
  const float* bias = nullptr;
  std::int64_t padded_v = 0;        // V rounded up to whole blocks of 16
  std::vector<float> blocked_E;     // E laid out for scoring (see block_dots)
  std::vector<float> padded_bias;   // bias, zero past V
  std::int64_t trained_steps = 0;
  std::uint64_t fingerprint = 0;
  // lstm, mixture: W_ih^T and W_hh^T (D, 4D), b_ih + b_hh, the state after the zero step.
  std::vector<float> w_ih_t, w_hh_t, gate_bias, h0, c0;
  // mixture: projection^T (D, 2MD), its bias, the representation of h0.
  std::vector<float> proj_t, proj_bias, rep0;
  // cnn
  std::vector<CnnLayer> layers;
  bool relu = false, residual = false;
  std::int64_t field = 1;        // receptive field in events
  std::int64_t cnn_state = 0;    // offset of the state in floats_
  std::vector<float> cnn_fresh;  // floats_ of a new session

  bool bounded_replay(std::int64_t N) const { return rep == Rep::cnn && N > 0 && N < field; }

  std::int64_t float_count(std::int64_t N) const {
    switch (rep) {
      case Rep::pooling: return N > 0 ? 2 * D : 3 * D;
      case Rep::lstm: return N > 0 ? 2 * N * D + D : 2 * D;
      case Rep::mixture: return (N > 0 ? 2 * N * D + D : 2 * D) + W;
      case Rep::cnn: return cnn_state + D;
    }
    return 0;
  }
  std::int64_t state_offset(std::int64_t N) const {
    switch (rep) {
      case Rep::pooling: return N > 0 ? D : 2 * D;
      case Rep::lstm: return N > 0 ? 2 * N * D : 0;
      case Rep::mixture: return N > 0 ? 2 * N * D + D : 2 * D;
      case Rep::cnn: return cnn_state;
    }
    return 0;
  }

  // ---- the seen set: linear probing over (item + 1, count) pairs ----
  static std::int64_t home(std::int32_t item, std::int64_t slots) {
    const std::uint32_t h = static_cast<std::uint32_t>(item) * 2654435769u;
    return static_cast<std::int64_t>(h >> (32 - std::countr_zero(static_cast<std::uint64_t>(slots))));
  }
  static std::int64_t find(const Session& s, std::int32_t item) {
    const std::int64_t slots = static_cast<std::int64_t>(s.seen_.size()) / 2, mask = slots - 1;
    for (std::int64_t i = home(item, slots);; i = (i + 1) & mask) {
      const std::int32_t key = s.seen_[static_cast<std::size_t>(2 * i)];
      if (key == 0 || key == item + 1) return i;
    }
  }
  static void seen_insert(std::vector<std::int32_t>& table, std::int32_t item, std::int32_t count) {
    const std::int64_t slots = static_cast<std::int64_t>(table.size()) / 2, mask = slots - 1;
    std::int64_t i = home(item, slots);
    while (table[static_cast<std::size_t>(2 * i)] != 0) i = (i + 1) & mask;
    table[static_cast<std::size_t>(2 * i)] = item + 1;
    table[static_cast<std::size_t>(2 * i + 1)] = count;
  }
  static void seen_add(Session& s, std::int32_t item) {
    if (s.max_events_ == 0 && 2 * (s.seen_size_ + 1) > static_cast<std::int64_t>(s.seen_.size()) / 2) {
      // Unbounded sessions keep the load at most 1/2 by doubling.
      std::vector<std::int32_t> grown(s.seen_.size() * 2, 0);
      for (std::size_t i = 0; i < s.seen_.size(); i += 2)
        if (s.seen_[i] != 0) seen_insert(grown, s.seen_[i] - 1, s.seen_[i + 1]);
      s.seen_.swap(grown);
    }
    const std::size_t i = static_cast<std::size_t>(2 * find(s, item));
    if (s.seen_[i] == 0) {
      s.seen_[i] = item + 1;
      s.seen_[i + 1] = 0;
      ++s.seen_size_;
    }
    ++s.seen_[i + 1];
  }
  // Bounded sessions only: one occurrence leaves the window.
  static void seen_remove(Session& s, std::int32_t item) {
    const std::int64_t slots = static_cast<std::int64_t>(s.seen_.size()) / 2, mask = slots - 1;
    std::int64_t i = find(s, item);
    std::int32_t* t = s.seen_.data();
    if (t[2 * i] == 0 || --t[2 * i + 1] > 0) return;
    --s.seen_size_;
    // Backward-shift deletion keeps every probe chain unbroken.
    for (std::int64_t j = (i + 1) & mask; t[2 * j] != 0; j = (j + 1) & mask) {
      const std::int64_t k = home(t[2 * j] - 1, slots);
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (stays) continue;
      t[2 * i] = t[2 * j];
      t[2 * i + 1] = t[2 * j + 1];
      i = j;
    }
    t[2 * i] = 0;
    t[2 * i + 1] = 0;
  }
  static bool seen_has(const Session& s, std::int32_t item) {
    return s.seen_[static_cast<std::size_t>(2 * find(s, item))] != 0;
  }

  // ---- state updates ----
  void fresh(Session& s) const {
    const std::int64_t N = s.max_events_;
    s.events_ = 0;
    s.floats_.assign(static_cast<std::size_t>(float_count(N)), 0.0f);
    float* f = s.floats_.data();
    switch (rep) {
      case Rep::pooling:
        std::fill(f + (N > 0 ? 0 : D), f + (N > 0 ? D : 2 * D), 1.0f);  // counts start at 1
        s.sums_.assign(N > 0 ? static_cast<std::size_t>(D) : 0, 0.0);
        break;
      case Rep::lstm:
      case Rep::mixture:
        std::copy(h0.begin(), h0.end(), f + (N > 0 ? 2 * N * D : 0));
        if (N == 0) std::copy(c0.begin(), c0.end(), f + D);
        if (rep == Rep::mixture) std::copy(rep0.begin(), rep0.end(), f + state_offset(N));
        break;
      case Rep::cnn: std::copy(cnn_fresh.begin(), cnn_fresh.end(), f); break;
    }
    s.window_.assign(static_cast<std::size_t>(N), 0);
    // An unbounded session keeps its grown set (cleared); a bounded one needs 2N slots.
    const std::size_t slots = static_cast<std::size_t>(N > 0 ? seen_slots_for(N) : std::max<std::int64_t>(
                                                                                      kMinSeenSlots, static_cast<std::int64_t>(s.seen_.size()) / 2));
    s.seen_.assign(2 * slots, 0);
    s.seen_size_ = 0;
  }

  void mixture_project(const float* h, float* out) const {
    std::copy(proj_bias.begin(), proj_bias.end(), out);
    add_product(out, h, proj_t.data(), D, W);
  }

  // CNN: feeds event t (item; t = -1 computes state 0 without an event)
  // through every layer. Layer 0's latest input index is t (the reference pads
  // one step more than causality needs), layer i >= 1's is t + 1.
  void cnn_advance(float* f, std::int64_t t, std::int32_t item) const {
    const std::int64_t L = static_cast<std::int64_t>(layers.size());
    float* tmp = work_buffer(static_cast<std::size_t>(D));
    if (t >= 0) std::memcpy(f + layers[0].ring + (t % layers[0].span) * D, E + item * D, sizeof(float) * D);
    for (std::int64_t i = 0; i < L; ++i) {
      const CnnLayer& layer = layers[static_cast<std::size_t>(i)];
      const std::int64_t p = i == 0 ? t : t + 1;
      const float* ring = f + layer.ring;
      std::copy(layer.bias.begin(), layer.bias.end(), tmp);
      for (std::int64_t j = 0; j < layer.kernel; ++j) {
        const std::int64_t m = p - (layer.kernel - 1 - j) * layer.dilation;
        if (m < 0) continue;  // left padding: a zero input
        add_product(tmp, ring + (m % layer.span) * D, layer.taps.data() + j * D * D, D, D);
      }
      for (std::int64_t o = 0; o < D; ++o) tmp[o] = relu ? (tmp[o] > 0.0f ? tmp[o] : 0.0f) : cpu::fast_tanh(tmp[o]);
      if (residual && p >= 0) {
        const float* x = ring + (p % layer.span) * D;
        for (std::int64_t o = 0; o < D; ++o) tmp[o] += x[o];
      }
      float* out = i + 1 < L ? f + layers[static_cast<std::size_t>(i + 1)].ring +
                                   ((t + 1) % layers[static_cast<std::size_t>(i + 1)].span) * D
                             : f + cnn_state;
      std::memcpy(out, tmp, sizeof(float) * D);
    }
  }

  void push(Session& s, std::int32_t item) const {
    LL_CHECK(item >= 0 && item < V, "Session::push: item id ", item, " is outside the model's catalogue [0, ", V, ")");
    const std::int64_t N = s.max_events_, n = s.events_;
    const float* e = E + static_cast<std::int64_t>(item) * D;
    std::int32_t leaving = -1;
    if (N > 0) {
      const std::size_t slot = static_cast<std::size_t>(n % N);
      if (n >= N) {
        leaving = s.window_[slot];
        seen_remove(s, leaving);
      }
      s.window_[slot] = item;
    }
    seen_add(s, item);
    float* f = s.floats_.data();
    switch (rep) {
      case Rep::pooling: {
        if (N == 0) {
          float *sum = f, *count = f + D, *state = f + 2 * D;
          for (std::int64_t d = 0; d < D; ++d) {
            sum[d] += e[d];
            count[d] += e[d] != 0.0f ? 1.0f : 0.0f;
            state[d] = sum[d] / count[d];
          }
        } else {
          float *count = f, *state = f + D;
          double* sum = s.sums_.data();
          if (leaving >= 0) {
            const float* old = E + static_cast<std::int64_t>(leaving) * D;
            for (std::int64_t d = 0; d < D; ++d) {
              sum[d] -= old[d];
              count[d] -= old[d] != 0.0f ? 1.0f : 0.0f;
            }
          }
          for (std::int64_t d = 0; d < D; ++d) {
            sum[d] += e[d];
            count[d] += e[d] != 0.0f ? 1.0f : 0.0f;
            state[d] = static_cast<float>(sum[d]) / count[d];
          }
        }
        break;
      }
      case Rep::lstm:
      case Rep::mixture: {
        const std::int64_t G = 4 * D;
        float* xz = work_buffer(static_cast<std::size_t>(2 * G));
        float* z = xz + G;
        std::copy(gate_bias.begin(), gate_bias.end(), xz);
        add_product(xz, e, w_ih_t.data(), D, G);
        const float* h_state = f;
        if (N == 0) {
          lstm_step(xz, w_hh_t.data(), f, f + D, z, 1, D);
        } else {
          // A new chain starts in the slot of the one that has just seen N
          // events; the live chains (up to N) all take this event.
          float *chain_h = f, *chain_c = f + N * D, *state_h = f + 2 * N * D;
          const std::int64_t slot = n % N;
          std::copy(h0.begin(), h0.end(), chain_h + slot * D);
          std::copy(c0.begin(), c0.end(), chain_c + slot * D);
          const std::int64_t live = std::min(n + 1, N);
          lstm_step(xz, w_hh_t.data(), chain_h, chain_c, z, live, D);
          const std::int64_t oldest = n + 1 <= N ? 0 : (n + 1) % N;
          std::memcpy(state_h, chain_h + oldest * D, sizeof(float) * D);
          h_state = state_h;
        }
        if (rep == Rep::mixture) mixture_project(h_state, f + state_offset(N));
        break;
      }
      case Rep::cnn:
        if (!bounded_replay(N)) {
          cnn_advance(f, n, item);
        } else {
          // The window is shorter than the receptive field: the state is the
          // window's own, from state 0 (its first events see left padding).
          std::copy(cnn_fresh.begin(), cnn_fresh.end(), f);
          const std::int64_t count = std::min(n + 1, N), first = n + 1 - count;
          for (std::int64_t j = 0; j < count; ++j)
            cnn_advance(f, j, s.window_[static_cast<std::size_t>((first + j) % N)]);
        }
        break;
    }
    s.events_ = n + 1;
  }

  // ---- scoring ----
  // Scores of ids 0..padded_v-1 into out (padded_v floats; past V they are junk).
  void score_all(const Session& s, float* out) const {
    const float* u = s.floats_.data() + state_offset(s.max_events_);
    const std::int64_t blocks = padded_v / kBlock;
    if (rep != Rep::mixture) {
      block_dots<1, 8>(blocked_E.data(), blocks, D, u, 1, padded_bias.data(), out, padded_v);
      return;
    }
    float* dots = work_buffer(static_cast<std::size_t>(2 * M * padded_v));
    if (2 * M == 8)
      block_dots<8, 1>(blocked_E.data(), blocks, D, u, 8, nullptr, dots, padded_v);
    else
      block_dots<0, 1>(blocked_E.data(), blocks, D, u, 2 * M, nullptr, dots, padded_v);
    mixture_mix(dots, padded_v, M, padded_bias.data(), 0, padded_v, out);
  }

  std::size_t top_k(const Session& s, const float* scores, int k, bool exclude_seen, Recommendation* out) const {
    auto better = [](const Recommendation& a, const Recommendation& b) {
      return a.score > b.score || (a.score == b.score && a.item < b.item);
    };
    const std::size_t cap = static_cast<std::size_t>(std::min<std::int64_t>(k, V));
    std::size_t n = 0;
    auto offer = [&](std::int32_t v) {
      const Recommendation r{v, scores[v]};
      if (n == cap && !better(r, out[0])) return;
      if (exclude_seen && seen_has(s, v)) return;
      if (n < cap) {
        out[n++] = r;
        std::push_heap(out, out + n, better);
      } else {
        std::pop_heap(out, out + n, better);
        out[n - 1] = r;
        std::push_heap(out, out + n, better);
      }
    };
    // Once the heap is full, most blocks of 16 hold no score above its worst
    // (an equal score cannot win: earlier ids are lower), and are skipped.
    std::int64_t v = 1;  // the padding id is never recommended
    while (v < V) {
      if (n == cap) v = skip_blocks(scores, v, V, out[0].score);
      const std::int64_t end = std::min<std::int64_t>(V, v + kBlock);
      for (; v < end; ++v) offer(static_cast<std::int32_t>(v));
    }
    std::sort_heap(out, out + n, better);
    return n;
  }
};

}  // namespace detail

using detail::Rep;
using detail::SessionPlan;

namespace {

const SessionPlan& plan_of(const detail::SessionPlan* plan) {
  LL_CHECK(plan != nullptr, "Session: this session was not started from a SessionModel (default-constructed)");
  return *plan;
}

const Parameter& find_parameter(const std::vector<const Parameter*>& params, const std::string& name,
                                std::initializer_list<std::int64_t> shape, const char* rep) {
  for (const Parameter* p : params)
    if (p->name == name) {
      std::vector<std::int64_t> want(shape);
      bool ok = p->value.rank() == static_cast<int>(want.size());
      for (std::size_t i = 0; ok && i < want.size(); ++i) ok = p->value.dim(static_cast<int>(i)) == want[i];
      LL_CHECK(ok, "SessionModel: parameter '", name, "' of this ", rep, " model has shape ", p->value.shape().str(),
               ", which sessions cannot serve");
      return *p;
    }
  detail::fail("SessionModel: this ", rep, " model has no parameter '", name,
               "' (sessions serve plain item embedding tables; Bloom embeddings are not supported)");
}

// W (rows, cols) row-major into W^T (cols, rows).
std::vector<float> transposed(const float* w, std::int64_t rows, std::int64_t cols) {
  std::vector<float> t(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) t[static_cast<std::size_t>(c * rows + r)] = w[r * cols + c];
  return t;
}

int layer_value(const std::vector<int>& values, int layer) {
  return values.size() == 1 ? values[0] : values[static_cast<std::size_t>(layer)];
}

}  // namespace

// ---------------------------------------------------------------- Session

Session::Session() = default;
Session::~Session() = default;
Session::Session(const Session&) = default;
Session& Session::operator=(const Session&) = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::push(std::int32_t item) { plan_of(plan_).push(*this, item); }

void Session::push(std::span<const std::int32_t> items) {
  const SessionPlan& plan = plan_of(plan_);
  for (std::int32_t item : items) plan.push(*this, item);
}

void Session::reset() { plan_of(plan_).fresh(*this); }

std::int64_t Session::window_events() const {
  plan_of(plan_);
  return max_events_ > 0 ? std::min(events_, max_events_) : events_;
}

std::vector<std::int32_t> Session::window() const {
  plan_of(plan_);
  LL_CHECK(max_events_ > 0, "Session::window: an unbounded session keeps its state and the items it has seen, not ",
           "its events (start it with SessionOptions::max_events to keep a window)");
  const std::int64_t count = window_events(), first = events_ - count;
  std::vector<std::int32_t> out(static_cast<std::size_t>(count));
  for (std::int64_t j = 0; j < count; ++j)
    out[static_cast<std::size_t>(j)] = window_[static_cast<std::size_t>((first + j) % max_events_)];
  return out;
}

bool Session::excludes(std::int32_t item) const {
  const SessionPlan& plan = plan_of(plan_);
  return item >= 0 && item < plan.V && SessionPlan::seen_has(*this, item);
}

std::span<const float> Session::state() const {
  const SessionPlan& plan = plan_of(plan_);
  return {floats_.data() + plan.state_offset(max_events_), static_cast<std::size_t>(plan.W)};
}

void Session::scores_into(std::span<float> out) const {
  const SessionPlan& plan = plan_of(plan_);
  LL_CHECK(out.size() >= static_cast<std::size_t>(plan.V), "Session::scores_into: room for ", out.size(),
           " scores, the catalogue has ", plan.V);
  float* scores = detail::score_buffer(static_cast<std::size_t>(plan.padded_v));
  plan.score_all(*this, scores);
  std::memcpy(out.data(), scores, sizeof(float) * static_cast<std::size_t>(plan.V));
}

std::vector<float> Session::scores() const {
  const SessionPlan& plan = plan_of(plan_);
  std::vector<float> out(static_cast<std::size_t>(plan.V));
  scores_into(out);
  return out;
}

std::vector<Recommendation> Session::recommend(int k, bool exclude_seen) const {
  const SessionPlan& plan = plan_of(plan_);
  LL_CHECK(k >= 1, "Session::recommend: k must be >= 1, got ", k);
  std::vector<Recommendation> out(static_cast<std::size_t>(std::min<std::int64_t>(k, plan.V)));
  out.resize(recommend_into(k, exclude_seen, out));
  return out;
}

std::size_t Session::recommend_into(int k, bool exclude_seen, std::span<Recommendation> out) const {
  const SessionPlan& plan = plan_of(plan_);
  LL_CHECK(k >= 1, "Session::recommend: k must be >= 1, got ", k);
  LL_CHECK(out.size() >= static_cast<std::size_t>(std::min<std::int64_t>(k, plan.V)), "Session::recommend: room for ",
           out.size(), " results, k is ", k);
  float* scores = detail::score_buffer(static_cast<std::size_t>(plan.padded_v));
  plan.score_all(*this, scores);
  return plan.top_k(*this, scores, k, exclude_seen, out.data());
}

std::vector<std::uint8_t> Session::serialize() const {
  const SessionPlan& plan = plan_of(plan_);
  // An unbounded session stores its seen items; a bounded one rebuilds them from its window.
  std::vector<std::int32_t> seen_items;
  if (max_events_ == 0) {
    seen_items.reserve(static_cast<std::size_t>(seen_size_));
    for (std::size_t i = 0; i < seen_.size(); i += 2)
      if (seen_[i] != 0) seen_items.push_back(seen_[i] - 1);
    std::sort(seen_items.begin(), seen_items.end());
  }
  detail::ByteWriter out(detail::kHeaderBytes + floats_.size() * 4 + sums_.size() * 8 + window_.size() * 4 +
                         seen_items.size() * 4 + 8);
  out.raw(detail::kMagic, 8);
  out.value(detail::kFormatVersion);
  out.value(static_cast<std::uint32_t>(plan.rep));
  out.value(plan.fingerprint);
  out.value(max_events_);
  out.value(events_);
  out.value(static_cast<std::uint64_t>(floats_.size()));
  out.value(static_cast<std::uint64_t>(sums_.size()));
  out.value(static_cast<std::uint64_t>(window_.size()));
  out.value(static_cast<std::uint64_t>(seen_items.size()));
  out.array(floats_);
  out.array(sums_);
  out.array(window_);
  out.array(seen_items);
  detail::Hasher h;
  h.bytes(out.bytes().data(), out.written());
  out.value(h.digest());
  return std::move(out.bytes());
}

// ---------------------------------------------------------------- SessionModel

SessionModel::SessionModel(const ImplicitSequenceModel& model) : plan_(std::make_unique<SessionPlan>()) {
  SessionPlan& p = *plan_;
  const ModelConfig& config = model.config();
  // Sessions compute on the host from the model's parameters in place.
  LL_CHECK(config.device == "cpu", "SessionModel: the model is on device '", config.device,
           "'; sessions run on the CPU (load the model with device cpu)");
  p.model = &model;
  p.V = model.num_items();  // Error when the model is not initialised
  p.D = config.embedding_dim;
  const std::string r = representation_name(config.representation);
  p.rep = r == "pooling" ? Rep::pooling : r == "cnn" ? Rep::cnn : r == "lstm" ? Rep::lstm : Rep::mixture;
  p.M = p.rep == Rep::mixture ? config.num_mixtures : 0;
  p.W = p.rep == Rep::mixture ? 2 * p.M * p.D : p.D;
  p.trained_steps = model.optimizer_steps();
  const std::vector<const Parameter*> params = model.parameters();
  const std::int64_t V = p.V, D = p.D, G = 4 * D;
  p.E = find_parameter(params, "item_embeddings.weight", {V, D}, r.c_str()).value.f32();
  p.bias = find_parameter(params, "item_biases.weight", {V, 1}, r.c_str()).value.f32();
  p.padded_v = (V + detail::kBlock - 1) / detail::kBlock * detail::kBlock;
  p.blocked_E.assign(static_cast<std::size_t>(p.padded_v * D), 0.0f);
  for (std::int64_t v = 0; v < V; ++v)
    for (std::int64_t d = 0; d < D; ++d)
      p.blocked_E[static_cast<std::size_t>(((v / detail::kBlock) * D + d) * detail::kBlock + v % detail::kBlock)] =
          p.E[v * D + d];
  p.padded_bias.assign(static_cast<std::size_t>(p.padded_v), 0.0f);
  std::copy(p.bias, p.bias + V, p.padded_bias.begin());

  detail::Hasher h;
  h.bytes(r.data(), r.size());
  h.u64(static_cast<std::uint64_t>(V));
  h.u64(static_cast<std::uint64_t>(D));
  h.u64(static_cast<std::uint64_t>(p.M));
  for (const Parameter* param : params) {
    h.bytes(param->name.data(), param->name.size());
    h.bytes(param->value.f32(), param->value.nbytes());
  }
  if (p.rep == Rep::cnn) {
    h.u64(static_cast<std::uint64_t>(config.cnn.num_layers));
    for (int i = 0; i < config.cnn.num_layers; ++i) {
      h.u64(static_cast<std::uint64_t>(layer_value(config.cnn.kernel_width, i)));
      h.u64(static_cast<std::uint64_t>(layer_value(config.cnn.dilation, i)));
    }
    h.bytes(config.cnn.nonlinearity.data(), config.cnn.nonlinearity.size());
    h.u64(config.cnn.residual ? 1 : 0);
  }
  p.fingerprint = h.digest();

  if (p.rep == Rep::lstm || p.rep == Rep::mixture) {
    p.w_ih_t = transposed(find_parameter(params, "lstm.weight_ih_l0", {G, D}, r.c_str()).value.f32(), G, D);
    p.w_hh_t = transposed(find_parameter(params, "lstm.weight_hh_l0", {G, D}, r.c_str()).value.f32(), G, D);
    const float* b_ih = find_parameter(params, "lstm.bias_ih_l0", {G}, r.c_str()).value.f32();
    const float* b_hh = find_parameter(params, "lstm.bias_hh_l0", {G}, r.c_str()).value.f32();
    p.gate_bias.resize(static_cast<std::size_t>(G));
    for (std::int64_t g = 0; g < G; ++g) p.gate_bias[static_cast<std::size_t>(g)] = b_ih[g] + b_hh[g];
    // The zero step before the first item: a zero input from zero (h, c).
    p.h0.assign(static_cast<std::size_t>(D), 0.0f);
    p.c0.assign(static_cast<std::size_t>(D), 0.0f);
    std::vector<float> z(static_cast<std::size_t>(G));
    detail::lstm_step(p.gate_bias.data(), p.w_hh_t.data(), p.h0.data(), p.c0.data(), z.data(), 1, D);
    if (p.rep == Rep::mixture) {
      const std::int64_t W = p.W;
      p.proj_t = transposed(find_parameter(params, "projection.weight", {W, D, 1}, r.c_str()).value.f32(), W, D);
      const float* pb = find_parameter(params, "projection.bias", {W}, r.c_str()).value.f32();
      p.proj_bias.assign(pb, pb + W);
      p.rep0.resize(static_cast<std::size_t>(W));
      p.mixture_project(p.h0.data(), p.rep0.data());
    }
  }
  if (p.rep == Rep::cnn) {
    p.relu = config.cnn.nonlinearity == "relu";
    p.residual = config.cnn.residual;
    std::int64_t offset = 0;
    for (int i = 0; i < config.cnn.num_layers; ++i) {
      detail::CnnLayer layer;
      layer.kernel = layer_value(config.cnn.kernel_width, i);
      layer.dilation = layer_value(config.cnn.dilation, i);
      layer.span = (layer.kernel - 1) * layer.dilation + 1;
      layer.ring = offset;
      offset += layer.span * D;
      p.field += layer.span - 1;
      const std::string name = "cnn_" + std::to_string(i);
      const float* w = find_parameter(params, name + ".weight", {D, D, layer.kernel, 1}, r.c_str()).value.f32();
      const float* b = find_parameter(params, name + ".bias", {D}, r.c_str()).value.f32();
      layer.taps.resize(static_cast<std::size_t>(layer.kernel * D * D));
      for (std::int64_t o = 0; o < D; ++o)
        for (std::int64_t c = 0; c < D; ++c)
          for (std::int64_t j = 0; j < layer.kernel; ++j)
            layer.taps[static_cast<std::size_t>((j * D + c) * D + o)] = w[(o * D + c) * layer.kernel + j];
      layer.bias.assign(b, b + D);
      p.layers.push_back(std::move(layer));
    }
    p.cnn_state = offset;
    p.cnn_fresh.assign(static_cast<std::size_t>(offset + D), 0.0f);
    p.cnn_advance(p.cnn_fresh.data(), -1, 0);
  }
}

SessionModel::~SessionModel() = default;
SessionModel::SessionModel(SessionModel&&) noexcept = default;
SessionModel& SessionModel::operator=(SessionModel&&) noexcept = default;

const ImplicitSequenceModel& SessionModel::model() const { return *plan_->model; }
std::uint64_t SessionModel::fingerprint() const { return plan_->fingerprint; }

Session SessionModel::start(SessionOptions options) const {
  const SessionPlan& p = *plan_;
  LL_CHECK(p.model->optimizer_steps() == p.trained_steps, "SessionModel: the model has been trained since this ",
           "SessionModel was built (", p.trained_steps, " optimizer steps then, ", p.model->optimizer_steps(),
           " now); build a new SessionModel");
  LL_CHECK(options.max_events >= 0 && options.max_events <= detail::kMaxEvents,
           "SessionModel::start: max_events must be in [0, ", detail::kMaxEvents, "] (0: unbounded), got ",
           options.max_events);
  Session s;
  s.plan_ = &p;
  s.max_events_ = options.max_events;
  p.fresh(s);
  return s;
}

Session SessionModel::start(std::span<const std::int32_t> history, SessionOptions options) const {
  Session s = start(options);
  // A bounded session's state depends on its last N events only, so a long
  // history can skip a prefix. The skip is a multiple of N, which keeps every
  // ring slot (event e at e mod N) where pushing it all would put it; the CNN
  // (rings of other sizes, and cheap steps) pushes everything.
  const std::int64_t N = options.max_events, length = static_cast<std::int64_t>(history.size());
  const std::int64_t skip = N > 0 && plan_->rep != Rep::cnn && length > 2 * N ? (length - N) / N * N : 0;
  for (std::int64_t i = 0; i < skip; ++i)
    LL_CHECK(history[static_cast<std::size_t>(i)] >= 0 && history[static_cast<std::size_t>(i)] < plan_->V,
             "SessionModel::start: history item ", history[static_cast<std::size_t>(i)], " at position ", i,
             " is outside the model's catalogue [0, ", plan_->V, ")");
  s.push(history.subspan(static_cast<std::size_t>(skip)));
  s.events_ += skip;
  return s;
}

Session SessionModel::restore(std::span<const std::uint8_t> bytes) const {
  const SessionPlan& p = *plan_;
  const std::size_t size = bytes.size();
  LL_CHECK(size >= detail::kHeaderBytes + 8, "Session::restore: ", size, " bytes is too short for a session (",
           "at least ", detail::kHeaderBytes + 8, "): truncated");
  LL_CHECK(std::memcmp(bytes.data(), detail::kMagic, 8) == 0,
           "Session::restore: these bytes are not a limelight session (bad magic)");
  std::size_t at = 8;
  auto read = [&](auto& v) {
    std::memcpy(&v, bytes.data() + at, sizeof v);
    at += sizeof v;
  };
  std::uint32_t version = 0, rep = 0;
  std::uint64_t fingerprint = 0, n_floats = 0, n_sums = 0, n_window = 0, n_seen = 0;
  std::int64_t max_events = 0, events = 0;
  read(version);
  LL_CHECK(version == detail::kFormatVersion, "Session::restore: session format version ", version,
           "; this build reads version ", detail::kFormatVersion);
  read(rep);
  read(fingerprint);
  read(max_events);
  read(events);
  read(n_floats);
  read(n_sums);
  read(n_window);
  read(n_seen);
  // Each count is bounded by the size before the products, so nothing overflows.
  const std::uint64_t limit = size;
  LL_CHECK(n_floats <= limit && n_sums <= limit && n_window <= limit && n_seen <= limit &&
               detail::kHeaderBytes + 4 * n_floats + 8 * n_sums + 4 * n_window + 4 * n_seen + 8 == size,
           "Session::restore: ", size, " bytes do not match the sizes in the header (truncated or corrupted)");
  detail::Hasher h;
  h.bytes(bytes.data(), size - 8);
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, bytes.data() + size - 8, 8);
  LL_CHECK(checksum == h.digest(), "Session::restore: the session bytes are corrupted (checksum mismatch)");
  char mine[17], theirs[17];
  std::snprintf(mine, sizeof mine, "%016llx", static_cast<unsigned long long>(p.fingerprint));
  std::snprintf(theirs, sizeof theirs, "%016llx", static_cast<unsigned long long>(fingerprint));
  LL_CHECK(fingerprint == p.fingerprint, "Session::restore: this session was made by another model (fingerprint ",
           theirs, ", this ", detail::rep_name(p.rep), " model's is ", mine, ")");
  // From here on a mismatch is a blob written by a buggy or hostile writer.
  LL_CHECK(rep == static_cast<std::uint32_t>(p.rep) && max_events >= 0 && max_events <= detail::kMaxEvents &&
               events >= 0 && n_floats == static_cast<std::uint64_t>(p.float_count(max_events)) &&
               n_sums == (p.rep == Rep::pooling && max_events > 0 ? static_cast<std::uint64_t>(p.D) : 0) &&
               n_window == static_cast<std::uint64_t>(max_events) &&
               (max_events > 0 ? n_seen == 0 : n_seen <= static_cast<std::uint64_t>(events)),
           "Session::restore: the session's layout does not fit this model (corrupted)");
  Session s = start(SessionOptions{max_events});
  s.events_ = events;
  auto read_array = [&](void* to, std::size_t n) {
    if (n > 0) std::memcpy(to, bytes.data() + at, n);  // an empty vector's data() may be null
    at += n;
  };
  read_array(s.floats_.data(), 4 * n_floats);
  read_array(s.sums_.data(), 8 * n_sums);
  read_array(s.window_.data(), 4 * n_window);
  auto check_item = [&](std::int32_t item) {
    LL_CHECK(item >= 0 && item < p.V, "Session::restore: item id ", item, " is outside the model's catalogue [0, ",
             p.V, ") (corrupted)");
  };
  if (max_events > 0) {
    const std::int64_t count = std::min(events, max_events);
    for (std::int64_t j = events - count; j < events; ++j) {
      const std::int32_t item = s.window_[static_cast<std::size_t>(j % max_events)];
      check_item(item);
      SessionPlan::seen_add(s, item);
    }
  } else {
    s.seen_.assign(2 * static_cast<std::size_t>(detail::seen_slots_for(static_cast<std::int64_t>(n_seen))), 0);
    for (std::uint64_t i = 0; i < n_seen; ++i) {
      std::int32_t item = 0;
      read(item);
      check_item(item);
      LL_CHECK(!SessionPlan::seen_has(s, item), "Session::restore: item ", item, " is listed twice (corrupted)");
      SessionPlan::seen_add(s, item);
    }
  }
  return s;
}

}  // namespace limelight
