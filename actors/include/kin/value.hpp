// kin::Value<T> — Python's multiprocessing.Value: one T in shared memory guarded by a lock
// (a kin::RLock by default, as in Python; `Value<T, kin::Lock>` for a plain Lock). load() and
// store() take the lock; for a read-modify-write hold it across both:
//     auto g = v.locked();  *g += 1;          // or: std::lock_guard l{v.get_lock()};
// Copies share the value and its lock; both live in one anonymous segment (one fd).
#pragma once

#include <kin/lock.hpp>
#include <kin/rlock.hpp>
#include <kin/runtime/owned_lock.hpp>
#include <kin/runtime/shared_block.hpp>
#include <kin/shared_type.hpp>

#include <cstring>
#include <mutex>
#include <type_traits>

namespace kin {

namespace detail {
template <class L>
inline constexpr bool is_kin_lock_v = std::is_same_v<L, Lock> || std::is_same_v<L, RLock>;

/// Offset of the payload after a lock state, aligned for T.
template <class T>
constexpr std::size_t payload_offset() {
  constexpr std::size_t a = alignof(T) > alignof(std::max_align_t) ? alignof(T) : alignof(std::max_align_t);
  return (sizeof(OwnedLockState) + a - 1) / a * a;
}
}  // namespace detail

/// Holds a Value's (or Array's) lock and gives access to the guarded data.
template <class T, class L>
class LockedRef {
 public:
  LockedRef(L& lock, T* p) : guard_(lock), p_(p) {}
  T& operator*() const noexcept { return *p_; }
  T* operator->() const noexcept { return p_; }
  T* get() const noexcept { return p_; }

 private:
  std::unique_lock<L> guard_;
  T* p_;
};

template <class T, class L = RLock>
class Value {
  KIN_SHARED_TYPE_CHECK(T, "Value");
  static_assert(detail::is_kin_lock_v<L>, "kin::Value<T, L>: L must be kin::Lock or kin::RLock");

 public:
  explicit Value(const T& init = T{}) {
    block_ = detail::SharedBlock::create(detail::payload_offset<T>() + sizeof(T), "kin.Value");
    detail::OwnedLock::init_state(block_.as<detail::OwnedLockState>());
    lock_ = detail::LockAccess::make<L>(detail::OwnedLock{block_, std::is_same_v<L, RLock>});
    std::memcpy(data(), &init, sizeof(T));
  }

  /// Python's `Value(typecode, v, lock=existing)`: guarded by `lock`, which other Values,
  /// Arrays or code may hold too (the handle travels to children with the Value).
  Value(const T& init, L lock) : Value(init) {
    lock_ = std::move(lock);
    external_lock_ = true;
  }

  [[nodiscard]] T load() const {
    std::lock_guard g{lock_};
    T out;
    std::memcpy(&out, data(), sizeof(T));
    return out;
  }
  void store(const T& v) {
    std::lock_guard g{lock_};
    std::memcpy(data(), &v, sizeof(T));
  }
  /// The lock (a handle sharing it), like Python's get_lock().
  [[nodiscard]] L& get_lock() const noexcept { return lock_; }
  /// Takes the lock for as long as the returned object lives; `*g` is the shared T.
  [[nodiscard]] LockedRef<T, L> locked() const { return LockedRef<T, L>{lock_, data()}; }
  /// The shared T without locking (Python's get_obj()): hold get_lock() around its use.
  [[nodiscard]] T& get_obj() const noexcept { return *data(); }

  template <class Inspector>
  friend void inspect(Inspector& f, Value& x) {
    detail::inspect_block(f, x.block_);
    bool external = x.external_lock_;  // a lock= given at construction travels along
    f(external);
    if (external) f(x.lock_);
    if constexpr (Inspector::writes_state) {
      x.external_lock_ = external;
      if (!external) x.lock_ = detail::LockAccess::make<L>(detail::OwnedLock{x.block_, std::is_same_v<L, RLock>});
    }
  }

 private:
  T* data() const noexcept { return reinterpret_cast<T*>(block_.data() + detail::payload_offset<T>()); }
  detail::SharedBlock block_;
  mutable L lock_ = detail::LockAccess::make<L>(detail::OwnedLock{});
  bool external_lock_ = false;
};

}  // namespace kin
