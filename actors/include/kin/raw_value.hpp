// kin::RawValue<T> — Python's multiprocessing.RawValue: one T in shared memory, no lock.
// Copies (and fork children, and spawn/forkserver children that receive it as an argument) see
// the same T. Reads and writes are plain memory accesses: a read-modify-write from several
// processes loses updates — use kin::Value<T> (locked) when that matters.
#pragma once

#include <kin/errors.hpp>

#include <kin/runtime/shared_block.hpp>
#include <kin/shared_type.hpp>

#include <atomic>
#include <cstring>

namespace kin {

template <class T>
class RawValue {
  KIN_SHARED_TYPE_CHECK(T, "RawValue");

 public:
  explicit RawValue(const T& init = T{}) : block_(detail::SharedBlock::create(sizeof(T), "kin.RawValue")) {
    store(init);
  }

  [[nodiscard]] T load() const {
    T out;
    // The fences keep the compiler from caching the shared bytes in a register across calls.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::memcpy(&out, block_.data(), sizeof(T));
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return out;
  }
  void store(const T& v) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::memcpy(block_.data(), &v, sizeof(T));
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  /// The shared T itself (Python's `.value`), for direct access.
  [[nodiscard]] T& get() const noexcept { return *block_.as<T>(); }
  [[nodiscard]] T* operator->() const noexcept { return block_.as<T>(); }

  template <class Inspector>
  friend void inspect(Inspector& f, RawValue& x) {
    detail::inspect_block(f, x.block_);
  }

 private:
  detail::SharedBlock block_;
};

}  // namespace kin
