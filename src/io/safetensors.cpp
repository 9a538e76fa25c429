// The safetensors reader (validate the header fully, then serve typed copies
// of tensors) and the deterministic, atomic writer. All tensor bytes are
// little-endian; the host is required to be little-endian too, so reading a
// tensor is a bounds-checked memcpy.
#include "limelight/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>
#include <tuple>

#include "io/json.hpp"
#include "limelight/error.hpp"

namespace limelight::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr std::uint64_t max_header_bytes = 100'000'000;
constexpr const char* metadata_key = "__metadata__";

const char* file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
  }
  return "?";
}

// numel * element size, or false on overflow of size_t.
bool checked_nbytes(const std::vector<std::int64_t>& shape, std::size_t element_size, std::size_t& out) {
  std::size_t n = element_size;
  for (std::int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return false;
  }
  out = n;
  return true;
}

std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

TensorInfo parse_tensor_entry(const std::string& source, const std::string& name, const json::Value& entry,
                              std::size_t data_size) {
  const std::string where = source + ": tensor " + json::quote(name) + ": ";
  LL_CHECK(entry.is_object(), where, "header entry is not an object (found ", json::kind_name(entry.kind()), ")");
  for (const auto& member : entry.as_object()) {
    LL_CHECK(member.first == "dtype" || member.first == "shape" || member.first == "data_offsets", where,
             "unexpected field ", json::quote(member.first));
  }
  const json::Value* dtype = entry.find("dtype");
  const json::Value* shape = entry.find("shape");
  const json::Value* offsets = entry.find("data_offsets");
  LL_CHECK(dtype != nullptr, where, "missing \"dtype\"");
  LL_CHECK(shape != nullptr, where, "missing \"shape\"");
  LL_CHECK(offsets != nullptr, where, "missing \"data_offsets\"");

  TensorInfo info{};
  LL_CHECK(dtype->is_string(), where, "dtype is not a string: ", json::dump(*dtype));
  const std::string& d = dtype->as_string();
  if (d == "F32") info.dtype = DType::f32;
  else if (d == "I64") info.dtype = DType::i64;
  else if (d == "I32") info.dtype = DType::i32;
  else detail::fail(where, "unknown dtype ", json::quote(d), " (supported: F32, I64, I32)");

  LL_CHECK(shape->is_array(), where, "shape is not a list: ", json::dump(*shape));
  for (const json::Value& dim : shape->as_array()) {
    LL_CHECK(dim.is_integer() && dim.as_int() >= 0, where, "shape ", json::dump(*shape),
             " is not a list of non-negative integers");
    info.shape.push_back(dim.as_int());
  }
  std::size_t nbytes = 0;
  LL_CHECK(checked_nbytes(info.shape, dtype_size(info.dtype), nbytes), where, "shape ", shape_str(info.shape),
           " has too many elements");

  LL_CHECK(offsets->is_array() && offsets->size() == 2 && (*offsets)[0].is_integer() &&
               (*offsets)[1].is_integer() && (*offsets)[0].as_int() >= 0 && (*offsets)[1].as_int() >= 0,
           where, "data_offsets ", json::dump(*offsets), " is not a list of two non-negative integers");
  auto begin = static_cast<std::uint64_t>((*offsets)[0].as_int());
  auto end = static_cast<std::uint64_t>((*offsets)[1].as_int());
  LL_CHECK(begin <= end, where, "data_offsets [", begin, ", ", end, "] has begin > end");
  LL_CHECK(end <= data_size, where, "data_offsets end ", end, " is past the end of the data section (", data_size,
           " bytes)");
  info.begin = static_cast<std::size_t>(begin);
  info.end = static_cast<std::size_t>(end);
  LL_CHECK(info.end - info.begin == nbytes, where, "data_offsets [", begin, ", ", end, "] span ", end - begin,
           " bytes but shape ", shape_str(info.shape), " of ", file_dtype_name(info.dtype), " needs ", nbytes);
  return info;
}

void put_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

SafetensorsFile SafetensorsFile::parse(std::string bytes, const std::string& source_name) {
  SafetensorsFile file;
  file.source_ = source_name;
  const std::string& src = source_name;
  const std::size_t size = bytes.size();
  LL_CHECK(size >= 8, src, ": file is ", size, " bytes, shorter than the 8-byte header length");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  LL_CHECK(header_len <= max_header_bytes, src, ": header length ", header_len,
           " is absurd (more than 100 MB); not a safetensors file?");
  LL_CHECK(header_len <= size - 8, src, ": header length ", header_len, " is larger than the ", size - 8,
           " bytes that follow it (file truncated?)");
  const std::size_t data_start = 8 + static_cast<std::size_t>(header_len);
  const std::size_t data_size = size - data_start;

  json::Value header;
  try {
    header = json::parse(std::string_view(bytes.data() + 8, static_cast<std::size_t>(header_len)));
  } catch (const Error& e) {
    detail::fail(src, ": header is not valid JSON (", e.what(), ", counting from the header start)");
  }
  LL_CHECK(header.is_object(), src, ": header is not a JSON object (found ", json::kind_name(header.kind()), ")");

  for (const auto& [name, entry] : header.as_object()) {
    if (name == metadata_key) {
      LL_CHECK(entry.is_object(), src, ": __metadata__ is not an object (found ", json::kind_name(entry.kind()), ")");
      for (const auto& [key, value] : entry.as_object()) {
        LL_CHECK(value.is_string(), src, ": __metadata__ value of ", json::quote(key), " is not a string (found ",
                 json::kind_name(value.kind()), ")");
        file.metadata_.emplace(key, value.as_string());
      }
      continue;
    }
    file.tensors_.emplace(name, parse_tensor_entry(src, name, entry, data_size));
  }

  // The tensors must tile the data section exactly: no overlap, no gap, no tail.
  std::vector<std::tuple<std::size_t, std::size_t, const std::string*>> spans;
  spans.reserve(file.tensors_.size());
  for (const auto& [name, info] : file.tensors_) spans.emplace_back(info.begin, info.end, &name);
  std::sort(spans.begin(), spans.end());
  std::size_t covered = 0;
  const std::string* previous = nullptr;
  for (const auto& [begin, end, name] : spans) {
    LL_CHECK(begin >= covered, src, ": tensor ", json::quote(*name), " [", begin, ", ", end, ") overlaps tensor ",
             json::quote(previous ? *previous : std::string()), " which ends at ", covered);
    LL_CHECK(begin == covered, src, ": data section bytes [", covered, ", ", begin,
             ") are not covered by any tensor");
    covered = end;
    previous = name;
  }
  LL_CHECK(covered == data_size, src, ": data section bytes [", covered, ", ", data_size,
           ") are not covered by any tensor");

  file.bytes_ = std::move(bytes);
  file.data_start_ = data_start;
  return file;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LL_CHECK(fd >= 0, path, ": cannot open: ", errno_text(errno));
  std::string bytes;
  try {
    struct stat st {};
    LL_CHECK(::fstat(fd, &st) == 0, path, ": cannot stat: ", errno_text(errno));
    LL_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
    bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < bytes.size()) {
      ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
      if (r < 0 && errno == EINTR) continue;
      LL_CHECK(r >= 0, path, ": read failed: ", errno_text(errno));
      if (r == 0) break;  // the file shrank while reading
      got += static_cast<std::size_t>(r);
    }
    bytes.resize(got);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return parse(std::move(bytes), path);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  LL_CHECK(it != tensors_.end(), source_, ": no tensor named ", json::quote(name));
  return it->second;
}

std::vector<float> SafetensorsFile::f32(const std::string& name) const {
  const TensorInfo& t = info(name);
  LL_CHECK(t.dtype == DType::f32, source_, ": tensor ", json::quote(name), " is ", file_dtype_name(t.dtype),
           ", not F32");
  std::vector<float> out((t.end - t.begin) / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), data(t), t.end - t.begin);
  return out;
}

std::vector<std::int64_t> SafetensorsFile::i64(const std::string& name) const {
  const TensorInfo& t = info(name);
  if (t.dtype == DType::i64) {
    std::vector<std::int64_t> out((t.end - t.begin) / sizeof(std::int64_t));
    if (!out.empty()) std::memcpy(out.data(), data(t), t.end - t.begin);
    return out;
  }
  LL_CHECK(t.dtype == DType::i32, source_, ": tensor ", json::quote(name), " is ", file_dtype_name(t.dtype),
           ", not I64 or I32");
  std::vector<std::int32_t> narrow((t.end - t.begin) / sizeof(std::int32_t));
  if (!narrow.empty()) std::memcpy(narrow.data(), data(t), t.end - t.begin);
  return std::vector<std::int64_t>(narrow.begin(), narrow.end());
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo& t = info(name);
  LL_CHECK(t.shape.size() <= static_cast<std::size_t>(Shape::max_rank), source_, ": tensor ", json::quote(name),
           " has rank ", t.shape.size(), ", more than the ", Shape::max_rank, " a Tensor holds");
  Shape shape(t.shape);
  if (t.dtype == DType::f32) return Tensor::from_vector(f32(name), shape);
  std::vector<std::int64_t> wide = i64(name);
  std::vector<std::int32_t> values(wide.size());
  for (std::size_t i = 0; i < wide.size(); ++i) {
    LL_CHECK(wide[i] >= std::numeric_limits<std::int32_t>::min() && wide[i] <= std::numeric_limits<std::int32_t>::max(),
             source_, ": tensor ", json::quote(name), " element ", i, " = ", wide[i], " does not fit in int32");
    values[i] = static_cast<std::int32_t>(wide[i]);
  }
  return Tensor::from_vector(values, shape);
}

SafetensorsLayout safetensors_layout(const std::vector<WriteEntry>& tensors,
                                     const std::map<std::string, std::string>& metadata, bool streamed) {
  std::vector<std::size_t> sizes(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const WriteEntry& t = tensors[i];
    LL_CHECK(t.name != metadata_key, "serialize_safetensors: a tensor may not be named __metadata__");
    for (std::int64_t d : t.shape) {
      LL_CHECK(d >= 0, "serialize_safetensors: tensor ", json::quote(t.name), " has negative dimension in shape ",
               shape_str(t.shape));
    }
    LL_CHECK(checked_nbytes(t.shape, dtype_size(t.dtype), sizes[i]), "serialize_safetensors: tensor ",
             json::quote(t.name), " shape ", shape_str(t.shape), " has too many elements");
    LL_CHECK(streamed || t.data != nullptr || sizes[i] == 0, "serialize_safetensors: tensor ", json::quote(t.name),
             " has no data");
  }
  // Integer tensors first, then F32; by name within each group.
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    bool fa = tensors[a].dtype == DType::f32, fb = tensors[b].dtype == DType::f32;
    if (fa != fb) return fb;
    return tensors[a].name < tensors[b].name;
  });
  {
    std::vector<std::string> all;
    for (const auto& t : tensors) all.push_back(t.name);
    std::sort(all.begin(), all.end());
    auto dup = std::adjacent_find(all.begin(), all.end());
    LL_CHECK(dup == all.end(), "serialize_safetensors: duplicate tensor name ", json::quote(dup == all.end() ? "" : *dup));
  }

  json::Value header = json::Value::object();
  if (!metadata.empty()) {
    json::Value meta = json::Value::object();
    for (const auto& [key, value] : metadata) meta.set(key, value);
    header.set(metadata_key, std::move(meta));
  }
  std::size_t offset = 0;
  for (std::size_t i : order) {
    const WriteEntry& t = tensors[i];
    json::Value shape = json::Value::array();
    for (std::int64_t d : t.shape) shape.push_back(d);
    json::Value entry = json::Value::object();
    entry.set("dtype", file_dtype_name(t.dtype));
    entry.set("shape", std::move(shape));
    entry.set("data_offsets", json::Value(json::Array{json::Value(offset), json::Value(offset + sizes[i])}));
    header.set(t.name, std::move(entry));
    offset += sizes[i];
  }
  std::string text = json::dump(header);
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');

  SafetensorsLayout layout;
  put_u64_le(layout.header, text.size());
  layout.header += text;
  layout.order = std::move(order);
  layout.sizes = std::move(sizes);
  return layout;
}

std::string serialize_safetensors(const std::vector<WriteEntry>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  const SafetensorsLayout layout = safetensors_layout(tensors, metadata, false);
  std::size_t total = layout.header.size();
  for (std::size_t size : layout.sizes) total += size;
  std::string out;
  out.reserve(total);
  out += layout.header;
  for (std::size_t i : layout.order)
    if (layout.sizes[i] != 0) out.append(static_cast<const char*>(tensors[i].data), layout.sizes[i]);
  return out;
}

void write_safetensors(const std::string& path, const std::vector<WriteEntry>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const SafetensorsLayout layout = safetensors_layout(tensors, metadata, false);
  write_safetensors_streamed(path, layout, [&](std::size_t i, const ByteSink& sink) {
    if (layout.sizes[i] != 0) sink(tensors[i].data, layout.sizes[i]);
  });
}

void write_safetensors_streamed(const std::string& path, const SafetensorsLayout& layout,
                                const std::function<void(std::size_t tensor, const ByteSink& sink)>& data) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  LL_CHECK(fd >= 0, path, ": cannot create temporary file ", json::quote(tmp), ": ", errno_text(errno));
  auto fail_with = [&](const char* what, int err) {
    if (fd >= 0) ::close(fd);
    fd = -1;
    ::unlink(tmp.c_str());
    detail::fail(path, ": ", what, ": ", errno_text(err));
  };
  auto write_all = [&](const void* bytes, std::size_t n) {
    const char* p = static_cast<const char*>(bytes);
    std::size_t written = 0;
    while (written < n) {
      ssize_t r = ::write(fd, p + written, n - written);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) fail_with("write failed", r < 0 ? errno : EIO);
      written += static_cast<std::size_t>(r);
    }
  };
  write_all(layout.header.data(), layout.header.size());
  for (std::size_t i : layout.order) {
    std::size_t given = 0;
    try {
      data(i, [&](const void* bytes, std::size_t n) {
        given += n;
        if (given > layout.sizes[i]) fail_with("a tensor's data is longer than its shape", EINVAL);
        write_all(bytes, n);
      });
    } catch (...) {
      // The producer's own failure: no temporary file stays behind.
      if (fd >= 0) {
        ::close(fd);
        fd = -1;
        ::unlink(tmp.c_str());
      }
      throw;
    }
    if (given != layout.sizes[i]) fail_with("a tensor's data is shorter than its shape", EINVAL);
  }
  if (::fsync(fd) != 0) fail_with("fsync failed", errno);
  int close_result = ::close(fd);
  fd = -1;
  if (close_result != 0) fail_with("close failed", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail_with("rename failed", errno);

  // Make the rename itself durable; failure here leaves a complete file, so it is not an error.
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace limelight::io
