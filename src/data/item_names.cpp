// Item names for display (include/limelight/data.hpp, load_item_names): the
// MovieLens titles files and plain id,name files, read with the RFC 4180
// record reader. u.item is Latin-1; its titles are converted to UTF-8 so that
// they print and go into JSON unchanged.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "data/delimited_reader.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace limelight {

namespace {

namespace fs = std::filesystem;

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LL_CHECK(in.good(), path, ": cannot open file");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::string find_item_names_file(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  const fs::path dir = fs::is_directory(p, ec) ? p : p.parent_path();
  const std::string name = p.filename().string();
  if (!fs::is_directory(p, ec) && name != "u.data" && name != "ratings.dat" && name != "ratings.csv")
    return fs::is_regular_file(p, ec) ? path : "";
  for (const char* candidate : {"u.item", "movies.csv", "movies.dat"})
    if (fs::is_regular_file(dir / candidate, ec)) return (dir / candidate).string();
  return "";
}

std::unordered_map<std::string, std::string> load_item_names(const std::string& path) {
  std::error_code ec;
  LL_CHECK(fs::exists(path, ec), "item names: ", path, " does not exist");
  const std::string file = find_item_names_file(path);
  LL_CHECK(!file.empty(), "item names: ", path, " holds none of u.item, movies.csv, movies.dat");
  const std::string name = fs::path(file).filename().string();
  const bool pipe = name.size() >= 5 && name.compare(name.size() - 5, 5, ".item") == 0;
  const bool colons = name.size() >= 4 && name.compare(name.size() - 4, 4, ".dat") == 0;
  std::string text = read_file(file);
  // u.item is Latin-1; a file that is already UTF-8 is left alone.
  if (!valid_utf8(text)) text = latin1_to_utf8(text);
  data::DelimitedReader reader(text, pipe ? "|" : colons ? "::" : ",", file);
  std::vector<std::string_view> fields;
  std::unordered_map<std::string, std::string> names;
  const bool header = !pipe && !colons;
  if (header) LL_CHECK(reader.next(fields), file, ":", reader.current_line(), ": empty file, no item names");
  while (reader.next(fields)) {
    LL_CHECK(fields.size() >= 2, file, ":", reader.line(), ": expected an id and a name, found ", fields.size(),
             " field", fields.size() == 1 ? "" : "s");
    LL_CHECK(!fields[0].empty(), file, ":", reader.line(), ": empty item id");
    const bool fresh = names.emplace(std::string(fields[0]), std::string(fields[1])).second;
    LL_CHECK(fresh, file, ":", reader.line(), ": item id '", std::string(fields[0]), "' is named twice");
  }
  return names;
}

}  // namespace limelight
