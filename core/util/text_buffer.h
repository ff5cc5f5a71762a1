// A growing byte buffer written through raw pointers, for encoders on hot paths: Reserve(n)
// makes room for n more bytes (without zero-filling them, unlike std::string::resize) and
// returns where they go; Commit marks how far they were written.
//
//   TextBuffer buf;
//   char* p = buf.Reserve(64);
//   p = std::copy_n("abc", 3, p);
//   buf.Commit(p);                 // buf.view() == "abc"
//
// Thread-compatible.
#ifndef DESFIRED_CORE_UTIL_TEXT_BUFFER_H_
#define DESFIRED_CORE_UTIL_TEXT_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/string_view.h"

namespace desfired {

class TextBuffer {
 public:
  TextBuffer() = default;
  TextBuffer(const TextBuffer&) = delete;
  TextBuffer& operator=(const TextBuffer&) = delete;

  // Room for `n` bytes after the end; the pointer stays valid until the next Reserve, Append
  // or Release.
  char* Reserve(size_t n) {
    if (capacity_ - size_ < n) Grow(n);
    return data_.get() + size_;
  }
  // The end of what was written since Reserve (at most its `n` bytes).
  void Commit(char* end) { size_ = static_cast<size_t>(end - data_.get()); }
  void Append(absl::string_view s) {
    char* p = Reserve(s.size());
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    size_ += s.size();
  }

  const char* data() const { return data_.get(); }
  char* data() { return data_.get(); }
  size_t size() const { return size_; }
  absl::string_view view() const { return absl::string_view(data_.get(), size_); }
  void clear() { size_ = 0; }
  // The memory (size() bytes written; delete[] frees it); the buffer is empty after.
  std::unique_ptr<char[]> Release() {
    size_ = capacity_ = 0;
    return std::move(data_);
  }

 private:
  void Grow(size_t n);

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Writes the decimal digits of `v` at `out` (at most 20); returns their end.
inline char* WriteDecimal(char* out, uint64_t v) {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *out++ = tmp[--n];
  return out;
}

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_TEXT_BUFFER_H_
