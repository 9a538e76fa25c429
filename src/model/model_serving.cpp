// ImplicitSequenceModel's serving paths: predict, recommend (one row, into
// caller memory, a batch of rows), batch scoring and user representations,
// on a per-thread tape that does not record, and the int8 serving table.
#include "limelight/model.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "backend/backend.hpp"
#include "backend/cpu/quantised_table.hpp"
#include "backend/cpu/top_k_heap.hpp"
#include "distributed/sharded_table.hpp"
#include "model/model_impl.hpp"

namespace limelight {

using model::on_tape_device;

std::shared_ptr<const cpu::QuantisedTable> ImplicitSequenceModel::Impl::quantised_table() const {
  if (precision != ServingPrecision::int8) return nullptr;
  const model::Network& n = network();
  if (!cpu::int8_table_pays(n.num_items(), config.embedding_dim)) return nullptr;
  std::lock_guard<std::mutex> lock(quantised_mutex);
  const std::uint64_t version = n.version();
  if (!quantised || quantised_version != version) {
    const Tensor& E = n.item_table();
    quantised = std::make_shared<const cpu::QuantisedTable>(cpu::quantise_item_table(
        E.f32(), net->item_biases().value.f32(), n.num_items(), config.embedding_dim));
    quantised_version = version;
  }
  return quantised;
}

void ImplicitSequenceModel::set_serving_precision(ServingPrecision precision) {
  LL_CHECK(precision == ServingPrecision::f32 || precision == ServingPrecision::int8,
           "set_serving_precision: unknown precision ", static_cast<int>(precision));
  if (precision == ServingPrecision::int8) {
    LL_CHECK(impl_->config.representation != Representation::mixture,
             "set_serving_precision: the int8 item table serves pooling, cnn and lstm models; a mixture ",
             "model's scores are not one dot product per item");
    LL_CHECK(impl_->device == Device::cpu, "set_serving_precision: the int8 item table serves on device 'cpu' ",
             "only, this model is on '", impl_->config.device, "'");
  }
  std::lock_guard<std::mutex> lock(impl_->quantised_mutex);
  impl_->precision = precision;
  impl_->quantised.reset();
}

ServingPrecision ImplicitSequenceModel::serving_precision() const { return impl_->precision; }

namespace {

// Serving runs on a per-thread, non-recording tape whose arena is reused, so a
// call allocates nothing once the thread has served a request of that size.
Tape& serving_tape(Device device) {
  thread_local Tape host_tape(false);
  thread_local std::unique_ptr<Tape> device_tape;
  Tape* tape = &host_tape;
  if (device != Device::cpu) {
    if (!device_tape) device_tape = std::make_unique<Tape>(false, device);
    tape = device_tape.get();
  }
  tape->reset();
  return *tape;
}

// Room for `count` values of T in the tape's arena (on its device).
template <class T>
T* arena_array(Tape& tape, std::int64_t count) {
  return static_cast<T*>(tape.arena().allocate(static_cast<std::size_t>(count) * sizeof(T)));
}

// Host memory to and from the tape's device (a plain copy on the host).
void to_tape(Tape& tape, void* dst, const void* src, std::size_t bytes) {
  allocator_for(tape.device()).copy(dst, tape.device(), src, Device::cpu, bytes);
}
void from_tape(Tape& tape, void* dst, const void* src, std::size_t bytes) {
  allocator_for(tape.device()).copy(dst, Device::cpu, src, tape.device(), bytes);
}

// The host's (rows, length) ids as a tensor the tape's ops can read.
Tensor ids_on_tape(Tape& tape, const std::int32_t* ids, std::int64_t rows, std::int64_t length) {
  const Tensor host = Tensor::borrow(const_cast<std::int32_t*>(ids), Shape{rows, length}, DType::i32);
  return on_tape_device(tape, host);
}

// scores (rows, V) from final states (rows, W).
void score_all(model::Network& net, Tape& tape, const float* states, std::int64_t rows, float* scores) {
  const ModelConfig& config = net.config();
  const Tensor& E = net.item_table();  // Bloom: the summed rows
  backend::get(E.device())
      .score_catalogue(states, rows, E.f32(), net.item_biases().value.f32(), net.num_items(), config.embedding_dim,
                       config.representation == Representation::mixture ? config.num_mixtures : 0, scores, tape.arena());
}

// Bloom embeddings over a sharded compressed table: the summed rows (n, D)
// of `n` items, their compressed rows fetched from the owners (every rank
// calls it in step), summed as the one-process item table sums them.
Tensor bloom_rows_summed(model::Network& net, const std::int32_t* items, std::int64_t n,
                         distributed::ShardedTable& compressed) {
  if (n == 0) {  // the fetch all the same: every rank's exchange needs this one
    compressed.fetch(nullptr, 0, {nullptr});
    return Tensor::empty({0, net.config().embedding_dim});
  }
  const model::Network::BloomRows hashed = net.bloom_rows(items, n);
  const auto R = static_cast<std::int64_t>(hashed.rows.size());
  Tensor fetched = Tensor::empty({R, net.config().embedding_dim});
  compressed.fetch(hashed.rows.data(), R, {fetched.f32()});
  Tape tape(false);
  return tape.value(net.bloom_sum(tape, tape.constant(fetched), hashed.hashes)).clone();
}

// A block [begin, end) of items' summed rows.
Tensor bloom_rows_summed(model::Network& net, std::int64_t begin, std::int64_t end,
                         distributed::ShardedTable& compressed) {
  std::vector<std::int32_t> items(static_cast<std::size_t>(end - begin));
  for (std::int64_t i = begin; i < end; ++i) items[static_cast<std::size_t>(i - begin)] = static_cast<std::int32_t>(i);
  return bloom_rows_summed(net, items.data(), end - begin, compressed);
}

}  // namespace

void ImplicitSequenceModel::score_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                                        float* scores) const {
  model::Network& net = impl_->network();
  LL_CHECK(length >= 1, "score_batch: sequences must have length >= 1, got ", length);
  LL_CHECK(rows >= 0, "score_batch: negative row count ", rows);
  if (rows == 0) return;
  impl_->check_ids(sequences, rows * length, "score_batch");
  Tape& tape = serving_tape(impl_->device);
  Tensor final_states = net.final_states(tape, ids_on_tape(tape, sequences, rows, length));
  if (tape.device() == Device::cpu) {
    score_all(net, tape, final_states.f32(), rows, scores);
    return;
  }
  const std::int64_t n = rows * net.num_items();
  float* device_scores = arena_array<float>(tape, n);
  score_all(net, tape, final_states.f32(), rows, device_scores);
  from_tape(tape, scores, device_scores, static_cast<std::size_t>(n) * sizeof(float));
}

void ImplicitSequenceModel::score_own_items(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                                            float* scores) const {
  if (!items_sharded()) {
    score_batch(sequences, rows, length, scores);
    return;
  }
  // The rows' items from their owners (every rank calls this in step), the
  // final states on them, then this rank's block of the catalogue scored.
  model::Network& net = impl_->network();
  LL_CHECK(length >= 1 && rows >= 0, "score_own_items: ", rows, " rows of length ", length);
  impl_->check_ids(sequences, rows * length, "score_own_items");
  std::vector<std::int32_t> ids(sequences, sequences + rows * length);
  ids.push_back(0);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const std::int64_t U = static_cast<std::int64_t>(ids.size()), D = impl_->config.embedding_dim;
  const model::ItemRows block = net.item_rows();
  const float* block_table = net.item_embeddings().value.f32();
  Tensor fetched;
  const std::int64_t fetched_n = rows == 0 ? 0 : U;
  if (net.bloom()) {
    // This block's items as their summed rows, again when the parameters
    // changed on any rank (every rank then fetches), then the rows the
    // sequences' items hash to.
    const bool stale = impl_->bloom_block_version != net.version();
    if (impl_->shard_comm->all_reduce_max(stale ? 1 : 0) != 0) {
      impl_->bloom_block_table = bloom_rows_summed(net, block.begin, block.end, *impl_->sharded_compressed);
      impl_->bloom_block_version = net.version();
    }
    block_table = impl_->bloom_block_table.f32();
    fetched = bloom_rows_summed(net, rows == 0 ? nullptr : ids.data(), fetched_n, *impl_->sharded_compressed);
  } else {
    fetched = Tensor::empty({U, D});
    Tensor fetched_biases = Tensor::empty({U, 1});
    impl_->sharded_table->fetch(rows == 0 ? nullptr : ids.data(), fetched_n, {fetched.f32(), fetched_biases.f32()});
  }
  if (rows == 0) return;
  Tape& tape = serving_tape(Device::cpu);
  Tensor local = tape.arena().tensor(Shape{rows, length}, DType::i32);
  for (std::int64_t i = 0; i < rows * length; ++i)
    local.i32()[i] = static_cast<std::int32_t>(std::lower_bound(ids.begin(), ids.end(), sequences[i]) - ids.begin());
  const Var table = tape.constant(fetched);
  Tensor final_states = net.final_states(tape, local, &table);
  const ModelConfig& config = net.config();
  backend::get(Device::cpu)
      .score_catalogue(final_states.f32(), rows, block_table, net.item_biases().value.f32(), block.end - block.begin,
                       config.embedding_dim, config.representation == Representation::mixture ? config.num_mixtures : 0,
                       scores, tape.arena());
}

void ImplicitSequenceModel::recommend_across_ranks(const std::int32_t* sequences, std::int64_t rows,
                                                   std::int64_t length, int k, bool exclude_seen, Recommendation* out,
                                                   std::size_t* counts) const {
  if (!items_sharded()) {
    recommend_batch(sequences, rows, length, k, exclude_seen, out, counts);
    return;
  }
  LL_CHECK(k >= 1, "recommend_across_ranks: k must be >= 1, got ", k);
  LL_CHECK(length >= 1 && rows >= 0, "recommend_across_ranks: ", rows, " rows of length ", length);
  distributed::Communicator& comm = *impl_->shard_comm;
  const auto [begin, end] = own_items();
  const std::int64_t nb = end - begin, N = comm.size(), V = num_items();
  const std::int64_t kk = std::min<std::int64_t>(k, V);
  // Rows in groups whose scores take at most 16 MB on the widest block (the
  // same groups on every rank: each is one fetch and one gather).
  const std::int64_t widest = (V + N - 1) / N;
  const std::int64_t group = std::clamp<std::int64_t>((std::int64_t{1} << 22) / std::max<std::int64_t>(widest, 1), 1,
                                                      std::max<std::int64_t>(rows, 1));
  std::vector<float> scores(static_cast<std::size_t>(group * std::max<std::int64_t>(nb, 1)));
  std::vector<Recommendation> mine(static_cast<std::size_t>(group * kk)), all, merged;
  std::vector<unsigned char> excluded(static_cast<std::size_t>(nb), 0);
  auto mark = [&](const std::int32_t* row, unsigned char flag) {
    if (begin == 0 && nb > 0) excluded[0] = flag;  // padding is never recommended
    if (exclude_seen)
      for (std::int64_t t = 0; t < length; ++t)
        if (row[t] >= begin && row[t] < end) excluded[static_cast<std::size_t>(row[t] - begin)] = flag;
  };
  std::int64_t first = 0;
  do {  // rows = 0 still fetches once, as every rank's step must
    const std::int64_t n_rows = std::min(group, rows - first);
    const std::int32_t* rows_ids = sequences + first * length;
    score_own_items(rows_ids, n_rows, length, scores.data());
    if (n_rows == 0) return;
    // This rank's best k of its block for each row; item -1 pads a row
    // whose block has fewer than k items to offer.
    std::fill(mine.begin(), mine.end(), Recommendation{-1, 0.0f});
    for (std::int64_t r = 0; r < n_rows; ++r) {
      const std::int32_t* row = rows_ids + r * length;
      mark(row, 1);
      cpu::BoundedHeap<Recommendation> best(mine.data() + r * kk, 0, static_cast<std::size_t>(kk));
      const float* s = scores.data() + r * nb;
      for (std::int64_t j = 0; j < nb; ++j)
        if (!excluded[static_cast<std::size_t>(j)])
          best.offer(Recommendation{static_cast<std::int32_t>(begin + j), s[j]});
      best.sort();
      mark(row, 0);
    }
    // Every rank's candidates, in rank order, then each row's best k of them.
    const auto bytes = static_cast<std::int64_t>(n_rows * kk * static_cast<std::int64_t>(sizeof(Recommendation)));
    all.resize(static_cast<std::size_t>(N * n_rows * kk));
    const std::vector<std::int64_t> sizes(static_cast<std::size_t>(N), bytes);
    comm.all_gather_v(distributed::Element::u8, mine.data(), bytes, all.data(), sizes.data(),
                      distributed::offsets_of(sizes).data());
    for (std::int64_t r = 0; r < n_rows; ++r) {
      merged.clear();
      for (std::int64_t q = 0; q < N; ++q)
        for (std::int64_t t = 0; t < kk; ++t) {
          const Recommendation& c = all[static_cast<std::size_t>((q * n_rows + r) * kk + t)];
          if (c.item >= 0) merged.push_back(c);
        }
      const std::size_t n = std::min(merged.size(), static_cast<std::size_t>(kk));
      std::partial_sort(merged.begin(), merged.begin() + static_cast<std::ptrdiff_t>(n), merged.end(), cpu::better);
      std::copy_n(merged.begin(), n, out + (first + r) * k);
      counts[first + r] = n;
    }
    first += n_rows;
  } while (first < rows);
}

std::vector<float> ImplicitSequenceModel::predict(std::span<const std::int32_t> sequence,
                                                  std::span<const std::int32_t> item_ids) const {
  const std::int32_t V = num_items();
  LL_CHECK(!sequence.empty(), "predict: the sequence is empty");
  impl_->check_ids(item_ids.data(), static_cast<std::int64_t>(item_ids.size()), "predict: item_ids");
  std::vector<float> all(static_cast<std::size_t>(V));
  score_batch(sequence.data(), 1, static_cast<std::int64_t>(sequence.size()), all.data());
  if (item_ids.empty()) return all;
  std::vector<float> out(item_ids.size());
  for (std::size_t i = 0; i < item_ids.size(); ++i) out[i] = all[static_cast<std::size_t>(item_ids[i])];
  return out;
}

std::vector<Recommendation> ImplicitSequenceModel::recommend(std::span<const std::int32_t> sequence, int k,
                                                             bool exclude_seen) const {
  LL_CHECK(k >= 1, "recommend: k must be >= 1, got ", k);
  std::vector<Recommendation> out(static_cast<std::size_t>(std::min<std::int64_t>(k, num_items())));
  out.resize(recommend_into(sequence, k, exclude_seen, out));
  return out;
}

namespace {

// The fused catalogue pass: the k best of each row's final state. excluded
// (V), out (rows, k) and counts (rows) are host memory: on a device they
// are copied through the tape's arena.
// With `quantised`, the int8 table's scan and float32 re-ranking (host only,
// the same answer).
void top_k_all(model::Network& net, Tape& tape, const float* states, std::int64_t rows, const unsigned char* excluded,
               int k, backend::ScoredItem* out, std::size_t* counts, const cpu::QuantisedTable* quantised) {
  const ModelConfig& config = net.config();
  const Tensor& E = net.item_table();  // Bloom: the summed rows
  const std::int64_t V = net.num_items(), M = config.representation == Representation::mixture ? config.num_mixtures : 0;
  backend::Backend& be = backend::get(E.device());
  if (quantised != nullptr) {
    cpu::top_k_catalogue_int8(*quantised, states, rows, E.f32(), net.item_biases().value.f32(), excluded, k, out,
                              counts, tape.arena());
    return;
  }
  if (tape.device() == Device::cpu) {
    be.top_k_catalogue(states, rows, E.f32(), net.item_biases().value.f32(), V, config.embedding_dim, M, excluded, k,
                       out, counts, tape.arena());
    return;
  }
  auto* d_excluded = arena_array<unsigned char>(tape, V);
  auto* d_out = arena_array<backend::ScoredItem>(tape, rows * k);
  auto* d_counts = arena_array<std::size_t>(tape, rows);
  to_tape(tape, d_excluded, excluded, static_cast<std::size_t>(V));
  be.top_k_catalogue(states, rows, E.f32(), net.item_biases().value.f32(), V, config.embedding_dim, M, d_excluded, k,
                     d_out, d_counts, tape.arena());
  from_tape(tape, out, d_out, static_cast<std::size_t>(rows * k) * sizeof(backend::ScoredItem));
  from_tape(tape, counts, d_counts, static_cast<std::size_t>(rows) * sizeof(std::size_t));
}

// Marks padding and `ids` in a per-thread mask of V zeros for one catalogue
// pass, and clears them again on the way out, exceptions included, so the
// mask is all zeros for the next call.
class SeenMask {
 public:
  SeenMask(std::vector<unsigned char>& mask, std::span<const std::int32_t> ids) : mask_(mask), ids_(ids) { set(1); }
  ~SeenMask() { set(0); }
  SeenMask(const SeenMask&) = delete;
  SeenMask& operator=(const SeenMask&) = delete;

 private:
  void set(unsigned char value) {
    mask_[0] = value;  // padding is never recommended
    for (std::int32_t id : ids_) mask_[static_cast<std::size_t>(id)] = value;
  }
  std::vector<unsigned char>& mask_;
  std::span<const std::int32_t> ids_;
};

// recommend_batch with seen items excluded writes the rows' scores out and
// takes each row's top k under its own mask when the table is at most this
// size (its scores and table then stay in cache).
constexpr std::int64_t per_row_scan_max_table_bytes = std::int64_t{1} << 20;

}  // namespace

std::size_t ImplicitSequenceModel::recommend_into(std::span<const std::int32_t> sequence, int k, bool exclude_seen,
                                                  std::span<Recommendation> out) const {
  LL_CHECK(k >= 1, "recommend: k must be >= 1, got ", k);
  model::Network& net = impl_->network();
  const std::int32_t V = num_items();
  LL_CHECK(out.size() >= static_cast<std::size_t>(std::min<std::int64_t>(k, V)), "recommend: room for ", out.size(),
           " results, k is ", k);
  LL_CHECK(!sequence.empty(), "recommend: the sequence is empty");
  const auto length = static_cast<std::int64_t>(sequence.size());
  impl_->check_ids(sequence.data(), length, "score_batch");
  // Per-thread buffers: they grow to the largest catalogue once.
  thread_local std::vector<unsigned char> seen;
  thread_local std::vector<backend::ScoredItem> best;
  seen.resize(static_cast<std::size_t>(V));
  best.resize(static_cast<std::size_t>(k));
  Tape& tape = serving_tape(impl_->device);
  Tensor final_states = net.final_states(tape, ids_on_tape(tape, sequence.data(), 1, length));
  const SeenMask mask(seen, exclude_seen ? sequence : std::span<const std::int32_t>());
  std::size_t n = 0;
  top_k_all(net, tape, final_states.f32(), 1, seen.data(), k, best.data(), &n, impl_->quantised_table().get());
  for (std::size_t i = 0; i < n; ++i) out[i] = Recommendation{best[i].item, best[i].score};
  return n;
}

void ImplicitSequenceModel::recommend_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                                            int k, bool exclude_seen, Recommendation* out,
                                            std::size_t* counts) const {
  LL_CHECK(k >= 1, "recommend_batch: k must be >= 1, got ", k);
  LL_CHECK(length >= 1, "recommend_batch: sequences must have length >= 1, got ", length);
  LL_CHECK(rows >= 0, "recommend_batch: negative row count ", rows);
  if (rows == 0) return;
  model::Network& net = impl_->network();
  const std::int32_t V = num_items();
  impl_->check_ids(sequences, rows * length, "recommend_batch");
  if (exclude_seen && (rows == 1 || impl_->device != Device::cpu)) {
    // Each row under its own seen mask, so the catalogue pass keeps k
    // candidates, not k + length: for one row (what a lock-step caller of
    // `limelight recommend` sends) a heap of 209 for a 199-item history cost
    // more than the scan, and a device's top-k keeps at most 128.
    for (std::int64_t r = 0; r < rows; ++r)
      counts[r] = recommend_into(std::span<const std::int32_t>(sequences + r * length, static_cast<std::size_t>(length)),
                                 k, true, std::span<Recommendation>(out + r * k, static_cast<std::size_t>(k)));
    return;
  }
  Tape& tape = serving_tape(impl_->device);
  Tensor final_states = net.final_states(tape, ids_on_tape(tape, sequences, rows, length));
  const std::int64_t table_bytes =
      static_cast<std::int64_t>(V) * net.config().embedding_dim * static_cast<std::int64_t>(sizeof(float));
  const cpu::QuantisedTable* quantised = impl_->quantised_table().get();
  if (exclude_seen && tape.device() == Device::cpu && quantised == nullptr &&
      table_bytes <= per_row_scan_max_table_bytes) {
    // A cache-sized table: the rows' scores written out (score_batch's, the
    // same call on the same states), then each row's top k under its own
    // seen mask. k + length candidates made the heap the larger part of the
    // work (a 199-item history over 1,683 items: a heap of 209 per row,
    // about 430 insertions).
    float* scores = arena_array<float>(tape, rows * V);
    score_all(net, tape, final_states.f32(), rows, scores);
    thread_local std::vector<unsigned char> seen;
    thread_local std::vector<backend::ScoredItem> best;
    seen.resize(static_cast<std::size_t>(V));
    best.resize(static_cast<std::size_t>(k));
    backend::Backend& be = backend::get(Device::cpu);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::span<const std::int32_t> row(sequences + r * length, static_cast<std::size_t>(length));
      const SeenMask mask(seen, row);
      const std::size_t n = be.top_k(scores + r * V, V, seen.data(), k, best.data());
      for (std::size_t i = 0; i < n; ++i)
        out[r * k + static_cast<std::int64_t>(i)] = Recommendation{best[i].item, best[i].score};
      counts[r] = n;
    }
    return;
  }
  // Seen items differ by row: each row's best k + length (padding excluded)
  // hold its best k unseen ones, which are then picked out.
  const std::int64_t wanted = exclude_seen ? k + length : k;
  thread_local std::vector<unsigned char> padding_only;
  thread_local std::vector<backend::ScoredItem> candidates;
  thread_local std::vector<std::size_t> found;
  thread_local std::vector<std::int32_t> row_seen;
  padding_only.assign(static_cast<std::size_t>(V), 0);
  padding_only[0] = 1;
  candidates.resize(static_cast<std::size_t>(rows * wanted));
  found.resize(static_cast<std::size_t>(rows));
  top_k_all(net, tape, final_states.f32(), rows, padding_only.data(), static_cast<int>(wanted), candidates.data(),
            found.data(), quantised);
  for (std::int64_t r = 0; r < rows; ++r) {
    if (exclude_seen) {
      row_seen.assign(sequences + r * length, sequences + (r + 1) * length);
      std::sort(row_seen.begin(), row_seen.end());
    }
    std::size_t n = 0;
    const backend::ScoredItem* cand = candidates.data() + r * wanted;
    for (std::size_t i = 0; i < found[static_cast<std::size_t>(r)] && n < static_cast<std::size_t>(k); ++i) {
      if (exclude_seen && std::binary_search(row_seen.begin(), row_seen.end(), cand[i].item)) continue;
      out[r * k + static_cast<std::int64_t>(n++)] = Recommendation{cand[i].item, cand[i].score};
    }
    counts[r] = n;
  }
}

std::pair<Tensor, Tensor> ImplicitSequenceModel::user_representation(const Tensor& sequences) const {
  model::Network& net = impl_->network();
  LL_CHECK(sequences.dtype() == DType::i32 && sequences.rank() == 2, "user_representation: sequences must be an ",
           "i32 (B, L) tensor, got ", sequences.shape().str());
  LL_CHECK(sequences.device() == Device::cpu, "user_representation: sequences must be a host tensor");
  impl_->check_ids(sequences.i32(), sequences.numel(), "user_representation");
  Tape& tape = serving_tape(impl_->device);
  const Tensor states = tape.value(net.states(tape, on_tape_device(tape, sequences))).to(Device::cpu);
  const std::int64_t B = sequences.dim(0), L = sequences.dim(1), W = net.state_width();
  Tensor all = Tensor::empty({B, L, W}), last = Tensor::empty({B, W});
  for (std::int64_t b = 0; b < B; ++b) {
    std::memcpy(all.f32() + b * L * W, states.f32() + b * (L + 1) * W, sizeof(float) * L * W);
    std::memcpy(last.f32() + b * W, states.f32() + (b * (L + 1) + L) * W, sizeof(float) * W);
  }
  return {all, last};
}

}  // namespace limelight
