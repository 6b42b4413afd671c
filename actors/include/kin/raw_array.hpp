// kin::RawArray<T> — Python's multiprocessing.RawArray: n elements of T in shared memory, no
// lock. `RawArray<T> a{n}` is n zero elements (like Array('i', 5)); `RawArray<T> a{range}` copies
// a range (a std::vector, std::array, ...); `RawArray<T>::of({1, 2, 3})` from a brace list.
#pragma once

#include <kin/errors.hpp>
#include <kin/runtime/shared_block.hpp>
#include <kin/shared_type.hpp>

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

namespace kin {

namespace detail {
template <class R, class T>
concept array_source = std::ranges::input_range<R> && std::is_convertible_v<std::ranges::range_reference_t<R>, T>;

[[noreturn]] inline void throw_array_index(std::size_t i, std::size_t n) {
  throw IndexError("kin: array index " + std::to_string(i) + " out of range (size " + std::to_string(n) + ")");
}
}  // namespace detail

template <class T>
class RawArray {
  KIN_SHARED_TYPE_CHECK(T, "RawArray");

 public:
  /// n zero-filled elements (a "default" RawArray is empty).
  explicit RawArray(std::size_t n = 0) : n_(n), block_(detail::SharedBlock::create(n * sizeof(T) + 1, "kin.RawArray")) {}
  template <detail::array_source<T> R>
    requires(!std::is_integral_v<std::remove_cvref_t<R>> && !std::is_base_of_v<RawArray, std::remove_cvref_t<R>>)
  explicit RawArray(R&& r) : RawArray(static_cast<std::size_t>(std::ranges::distance(r))) {
    std::size_t i = 0;
    for (auto&& x : r) data()[i++] = static_cast<T>(x);
  }
  static RawArray of(std::initializer_list<T> xs) { return RawArray(std::vector<T>(xs)); }

  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  T& operator[](std::size_t i) const noexcept { return data()[i]; }
  /// Bounds-checked: IndexError outside [0, size()).
  T& at(std::size_t i) const {
    if (i >= n_) detail::throw_array_index(i, n_);
    return data()[i];
  }
  T* begin() const noexcept { return data(); }
  T* end() const noexcept { return data() + n_; }
  T* data() const noexcept { return reinterpret_cast<T*>(block_.data()); }
  [[nodiscard]] std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  template <class Inspector>
  friend void inspect(Inspector& f, RawArray& x) {
    std::uint64_t n = x.n_;
    f(n);
    detail::inspect_block(f, x.block_);
    if constexpr (Inspector::writes_state) {
      if (x.block_.size() < n * sizeof(T)) throw ProtocolError("kin::RawArray: segment smaller than its size");
      x.n_ = static_cast<std::size_t>(n);
    }
  }

 private:
  std::size_t n_;
  detail::SharedBlock block_;
};

}  // namespace kin
