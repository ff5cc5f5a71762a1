// FreeWith<Free>: a std::unique_ptr deleter that calls a C library's free function, for the
// objects of OpenSSL, libpq and the like.
//
//   using Result = std::unique_ptr<PGresult, FreeWith<PQclear>>;
//
// Thread-safe: stateless.
#ifndef DESFIRED_CORE_UTIL_FREE_WITH_H_
#define DESFIRED_CORE_UTIL_FREE_WITH_H_

namespace desfired {

template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_FREE_WITH_H_
