// kin::Array<T> — Python's multiprocessing.Array: n elements of T in shared memory guarded by
// a lock (kin::RLock by default). `Array<T> a{n}` is n zeros (like Array('i', 5)); `Array<T>
// a{range}` copies a range; `Array<T>::of({1, 2, 3})` from a brace list. Element access
// (`a[i]`, `at(i)`, iteration) does not lock — hold `get_lock()` around compound updates;
// load(i)/store(i, v)/to_vector() lock for you. Copies share elements and lock (one segment).
#pragma once

#include <kin/raw_array.hpp>
#include <kin/value.hpp>

#include <mutex>

namespace kin {

template <class T, class L = RLock>
class Array {
  KIN_SHARED_TYPE_CHECK(T, "Array");
  static_assert(detail::is_kin_lock_v<L>, "kin::Array<T, L>: L must be kin::Lock or kin::RLock");

 public:
  explicit Array(std::size_t n = 0) : n_(n) {
    block_ = detail::SharedBlock::create(detail::payload_offset<T>() + n * sizeof(T), "kin.Array");
    detail::OwnedLock::init_state(block_.as<detail::OwnedLockState>());
    lock_ = detail::LockAccess::make<L>(detail::OwnedLock{block_, std::is_same_v<L, RLock>});
  }
  template <detail::array_source<T> R>
    requires(!std::is_integral_v<std::remove_cvref_t<R>> && !std::is_base_of_v<Array, std::remove_cvref_t<R>>)
  explicit Array(R&& r) : Array(static_cast<std::size_t>(std::ranges::distance(r))) {
    std::size_t i = 0;
    for (auto&& x : r) data()[i++] = static_cast<T>(x);
  }
  static Array of(std::initializer_list<T> xs) { return Array(std::vector<T>(xs)); }
  /// Python's `Array(typecode, n_or_items, lock=existing)`: guarded by `lock`, which other
  /// Arrays, Values or code may hold too (the handle travels to children with the Array).
  Array(std::size_t n, L lock) : Array(n) { use_lock(std::move(lock)); }
  template <detail::array_source<T> R>
    requires(!std::is_integral_v<std::remove_cvref_t<R>> && !std::is_base_of_v<Array, std::remove_cvref_t<R>>)
  Array(R&& r, L lock) : Array(std::forward<R>(r)) {
    use_lock(std::move(lock));
  }

  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  T& operator[](std::size_t i) const noexcept { return data()[i]; }
  /// Bounds-checked: IndexError outside [0, size()).
  T& at(std::size_t i) const {
    if (i >= n_) detail::throw_array_index(i, n_);
    return data()[i];
  }
  /// Locked, bounds-checked read and write of one element.
  [[nodiscard]] T load(std::size_t i) const {
    std::lock_guard g{lock_};
    return at(i);
  }
  void store(std::size_t i, const T& v) {
    std::lock_guard g{lock_};
    at(i) = v;
  }
  T* begin() const noexcept { return data(); }
  T* end() const noexcept { return data() + n_; }
  T* data() const noexcept { return reinterpret_cast<T*>(block_.data() + detail::payload_offset<T>()); }
  /// A locked snapshot.
  [[nodiscard]] std::vector<T> to_vector() const {
    std::lock_guard g{lock_};
    return std::vector<T>(begin(), end());
  }
  [[nodiscard]] L& get_lock() const noexcept { return lock_; }

  template <class Inspector>
  friend void inspect(Inspector& f, Array& x) {
    std::uint64_t n = x.n_;
    f(n);
    detail::inspect_block(f, x.block_);
    bool external = x.external_lock_;  // a lock= given at construction travels along
    f(external);
    if (external) f(x.lock_);
    if constexpr (Inspector::writes_state) {
      if (x.block_.size() < detail::payload_offset<T>() + n * sizeof(T))
        throw ProtocolError("kin::Array: segment smaller than its size");
      x.n_ = static_cast<std::size_t>(n);
      x.external_lock_ = external;
      if (!external) x.lock_ = detail::LockAccess::make<L>(detail::OwnedLock{x.block_, std::is_same_v<L, RLock>});
    }
  }

 private:
  std::size_t n_;
  detail::SharedBlock block_;
  mutable L lock_ = detail::LockAccess::make<L>(detail::OwnedLock{});
  bool external_lock_ = false;

  void use_lock(L lock) {
    lock_ = std::move(lock);
    external_lock_ = true;
  }
};

}  // namespace kin
