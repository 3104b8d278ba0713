// A read-only memory mapping of a whole file.
//
// Owns the mapping; movable, not copyable. data() stays valid for the object's lifetime.
// Thread-safe for concurrent reads. Throws LoadError naming the path when the file cannot be
// opened or mapped. An empty file maps to size() == 0 and data() == nullptr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace safrl::util {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole file into a string; throws LoadError naming the path on failure.
// Says the process is done with these bytes of a read-only mapping: the whole pages inside the
// range leave its resident set (the partial pages at either end stay). Reading them again is
// still valid: the kernel faults them back in from the file. Loading calls it after copying each
// tensor, so peak memory is the model plus one tensor rather than the model plus its file.
void drop_pages(const uint8_t* data, size_t nbytes);

std::string read_text_file(const std::string& path);

}  // namespace safrl::util
