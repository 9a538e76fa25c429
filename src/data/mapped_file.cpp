// MappedFile (see mapped_file.hpp): mmap with a read-whole fallback.
#include "data/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "limelight/error.hpp"

namespace limelight::data {

namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LL_CHECK(in.good(), path, ": cannot open file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  LL_CHECK(size >= 0, path, ": cannot read file size");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.seekg(0, std::ios::beg);
  in.read(text.data(), size);
  LL_CHECK(in.gcount() == size, path, ": read ", in.gcount(), " of ", size, " bytes");
  return text;
}

}  // namespace

MappedFile::MappedFile(const std::string& path) {
  std::error_code ec;
  LL_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a directory, expected a file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LL_CHECK(fd >= 0, path, ": cannot open file");
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      map_ = p;
      size_ = static_cast<std::size_t>(st.st_size);
      ::madvise(map_, size_, MADV_SEQUENTIAL);
    }
  }
  ::close(fd);
  if (!map_) copy_ = read_whole_file(path);
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(map_, size_);
}

}  // namespace limelight::data
