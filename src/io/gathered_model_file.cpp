// The model file of a model whose item table is sharded across ranks: rank
// 0 writes the ordinary file, the shards' rows gathered piece by piece as it
// writes them, so that no rank holds more than its shard and one piece; and
// a file loaded into such a model, each rank keeping its block.
#include <zlib.h>

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "distributed/sharded_table.hpp"
#include "io/model_file_parts.hpp"
#include "limelight/distributed.hpp"
#include "limelight/error.hpp"
#include "limelight/model_file.hpp"

namespace limelight {

using namespace io::model_file_parts;

namespace {

// The bytes of one piece of rows gathered at rank 0: a few MB.
constexpr std::int64_t piece_bytes = 8 << 20;

// Rows [0, V) of a sharded tensor of `width` floats a row, each rank
// holding its block at `local`, to `sink` on rank 0 in pieces (every rank
// calls it).
void gather_rows(distributed::Communicator& comm, std::int64_t V, std::int64_t width, const float* local,
                 const io::ByteSink* sink) {
  const int N = comm.size(), me = comm.rank();
  const distributed::RowBlock mine = distributed::owned_rows(V, me, N);
  const std::int64_t rows_per_piece = std::max<std::int64_t>(1, piece_bytes / (width * 4));
  std::vector<float> piece(me == 0 ? static_cast<std::size_t>(std::min(V, rows_per_piece) * width) : 0);
  std::vector<std::int64_t> send_counts(N, 0), send_offsets(N, 0), recv_counts(N, 0), recv_offsets(N, 0);
  for (std::int64_t a = 0; a < V; a += rows_per_piece) {
    const std::int64_t b = std::min(V, a + rows_per_piece);
    auto overlap = [&](int r) {
      const distributed::RowBlock blk = distributed::owned_rows(V, r, N);
      return std::pair{std::max(a, blk.begin), std::max(std::max(a, blk.begin), std::min(b, blk.end))};
    };
    const auto [lo, hi] = overlap(me);
    send_counts[0] = (hi - lo) * width;
    if (me == 0)
      for (int r = 0; r < N; ++r) {
        const auto [rlo, rhi] = overlap(r);
        recv_counts[r] = (rhi - rlo) * width;
        recv_offsets[r] = (rlo - a) * width;
      }
    comm.all_to_all_v(distributed::Element::f32, local + (lo - mine.begin) * width, send_counts.data(),
                      send_offsets.data(), piece.data(), recv_counts.data(), recv_offsets.data());
    if (me == 0) (*sink)(piece.data(), static_cast<std::size_t>((b - a) * width) * sizeof(float));
  }
}

}  // namespace

void save_model_gathered(const std::string& path, const ImplicitSequenceModel& model, const SaveOptions& options,
                         distributed::Communicator& comm) {
  if (!model.items_sharded() || comm.size() == 1) {
    if (comm.rank() == 0) save_model(path, model, options);
    return;
  }
  std::optional<TrainingState> state;
  if (options.training_state) state = model.training_state();
  FileContents c = file_contents(model, options, state ? &*state : nullptr);
  // The item embeddings and biases are sharded, and so are their moments
  // (with Bloom embeddings the compressed table, by its own rows).
  const std::vector<const Parameter*> params = model.parameters();
  std::set<std::string> sharded;
  for (const Parameter* p : {params[0], params[1]})
    for (const char* prefix : {"", exp_avg_prefix, exp_avg_sq_prefix}) sharded.insert(prefix + p->name);

  // The checksum over the whole file's bytes in its order: a sharded
  // tensor's from each rank's CRC of its block, joined with crc32_combine.
  std::vector<const float*> local(c.entries.size(), nullptr);
  std::vector<std::int64_t> total_rows(c.entries.size(), 0);
  uLong crc = crc32_z(0L, Z_NULL, 0);
  for (std::size_t i = 0; i < c.entries.size(); ++i) {
    io::WriteEntry& e = c.entries[i];
    std::int64_t count = 1;
    for (std::int64_t d : e.shape) count *= d;
    const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(float);
    if (sharded.count(e.name) == 0) {
      crc = crc32_z(crc, static_cast<const Bytef*>(e.data), bytes);
      continue;
    }
    const uLong mine = crc32_z(crc32_z(0L, Z_NULL, 0), static_cast<const Bytef*>(e.data), bytes);
    const std::vector<std::int64_t> crcs = comm.all_gather(static_cast<std::int64_t>(mine));
    const std::vector<std::int64_t> sizes = comm.all_gather(static_cast<std::int64_t>(bytes));
    for (int r = 0; r < comm.size(); ++r) {
      crc = crc32_combine(crc, static_cast<uLong>(crcs[r]), static_cast<z_off_t>(sizes[r]));
      total_rows[i] += sizes[r];
    }
    const std::int64_t row_bytes = (e.shape.size() > 1 ? e.shape[1] : 1) * static_cast<std::int64_t>(sizeof(float));
    total_rows[i] /= row_bytes;
    local[i] = static_cast<const float*>(e.data);
    e.shape[0] = total_rows[i];
    e.data = nullptr;
  }
  c.metadata[checksum_key] = std::to_string(metadata_crc32(static_cast<std::uint32_t>(crc), c.metadata));

  // Every rank knows the file's order; rank 0 writes, the others send their
  // rows of each sharded tensor as it comes.
  const io::SafetensorsLayout layout = io::safetensors_layout(c.entries, c.metadata, true);
  auto width_of = [&](std::size_t i) { return c.entries[i].shape.size() > 1 ? c.entries[i].shape[1] : 1; };
  if (comm.rank() == 0) {
    io::write_safetensors_streamed(path, layout, [&](std::size_t i, const io::ByteSink& sink) {
      if (local[i] == nullptr) {
        if (layout.sizes[i] != 0) sink(c.entries[i].data, layout.sizes[i]);
      } else {
        gather_rows(comm, total_rows[i], width_of(i), local[i], &sink);
      }
    });
  } else {
    for (std::size_t i : layout.order)
      if (local[i] != nullptr) gather_rows(comm, total_rows[i], width_of(i), local[i], nullptr);
  }
}

LoadedModel load_model_sharded(const std::string& path, distributed::Communicator& comm) {
  LoadedModel full = load_model(path);
  LoadedModel out{ImplicitSequenceModel(full.model.config()), std::move(full.item_labels), std::move(full.metadata)};
  out.model.initialize(full.model.num_items(), comm);
  const std::vector<const Parameter*> saved = std::as_const(full.model).parameters();
  const std::vector<Parameter*> params = out.model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& whole = saved[i]->value;
    // A sharded table takes this rank's block of the saved one's rows.
    params[i]->value.copy_from(params[i]->value.shape() == whole.shape()
                                   ? whole
                                   : distributed::rows_of_rank(whole, comm.rank(), comm.size()));
  }
  return out;
}

}  // namespace limelight
