// kin::Barrier — Python's Barrier(parties, action, timeout) across processes and threads.
// wait() returns the arrival index (0 .. parties-1); the last party to arrive runs `action`
// (once per round, before anyone is released). abort() breaks the barrier, reset() brings it
// back to empty (parties waiting then get BrokenBarrierError), as in Python.
//
// A party whose process is killed while waiting breaks the barrier: the other waiters check,
// every 100 ms of sleep, whether a waiting party's process is gone (dead, zombie, or pid reused),
// and then all get BrokenBarrierError. A party that dies *before* reaching wait() looks like a
// slow one: only a timeout (per wait, or the barrier's default) ends that wait — give one when
// parties may die. A party killed inside the barrier's own critical section breaks it at once
// (robust mutex). Up to 64 waiting processes are watched.
//
// The action runs in whichever party arrives last, as in Python, so it must reach every party:
// a plain function (a function pointer, a captureless lambda, a KIN_ENTRY function) travels to
// children under every start method — by name or code address, like a Process target. A
// closure (a lambda with captures, a std::function) exists only in this program image: threads
// and fork children have it, and handing such a Barrier to a spawn or forkserver child (or
// sending it over a channel) throws kin::StartMethodError there.
//
//   void report() { std::puts("all arrived"); }
//   kin::Barrier b{3, report};             // any start method
//   kin::Barrier c{3, [&] { ++rounds; }};  // threads and fork children only
#pragma once

#include <kin/errors.hpp>

#include <kin/runtime/futex.hpp>
#include <kin/runtime/shared_block.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace kin {

namespace detail {
using BarrierAction = void (*)();

/// Functions, function pointers and captureless lambdas; not std::function, not nullptr.
template <class F>
concept plain_barrier_action = std::is_convertible_v<F, BarrierAction> &&
                               !std::is_same_v<std::decay_t<F>, std::nullptr_t> &&
                               !std::is_same_v<std::decay_t<F>, std::function<void()>>;

/// How a Barrier's action travels: kind 0 none, 1 code address (name = object, offset),
/// 2 KIN_ENTRY name.
struct BarrierActionRef {
  std::uint8_t kind = 0;
  std::string name;
  std::uint64_t offset = 0;
};
/// StartMethodError when the barrier has only a closure action (`has_closure`).
BarrierActionRef barrier_action_ref(BarrierAction fn, bool has_closure);
/// ProtocolError for a reference this program cannot resolve.
BarrierAction barrier_action_from(const BarrierActionRef& ref);
}  // namespace detail

class Barrier {
 public:
  /// An empty handle (to assign to or decode into); using it throws ValueError.
  Barrier() = default;
  /// A closure action (or none: `{}`).
  explicit Barrier(std::uint32_t parties, std::function<void()> action = {},
                   std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  template <class Rep, class Period>
  Barrier(std::uint32_t parties, std::function<void()> action, std::chrono::duration<Rep, Period> timeout)
      : Barrier(parties, std::move(action),
                std::optional<std::chrono::nanoseconds>(std::chrono::ceil<std::chrono::nanoseconds>(timeout))) {}
  /// A plain-function action: it travels to children under every start method.
  template <class F>
    requires detail::plain_barrier_action<F>
  Barrier(std::uint32_t parties, F&& action, std::optional<std::chrono::nanoseconds> timeout = std::nullopt)
      : Barrier(parties, std::function<void()>{}, timeout) {
    action_fn_ = static_cast<detail::BarrierAction>(action);
  }
  template <class F, class Rep, class Period>
    requires detail::plain_barrier_action<F>
  Barrier(std::uint32_t parties, F&& action, std::chrono::duration<Rep, Period> timeout)
      : Barrier(parties, std::forward<F>(action),
                std::optional<std::chrono::nanoseconds>(std::chrono::ceil<std::chrono::nanoseconds>(timeout))) {}

  /// Waits for all parties (or the default timeout); returns this party's arrival index.
  /// Throws BrokenBarrierError when the barrier is or becomes broken (abort, reset, timeout).
  std::uint32_t wait();
  template <class Rep, class Period>
  std::uint32_t wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(detail::deadline_after(timeout));
  }
  void abort();
  void reset();
  [[nodiscard]] std::uint32_t parties() const;
  [[nodiscard]] std::uint32_t n_waiting() const;
  [[nodiscard]] bool broken() const;

  template <class Inspector>
  friend void inspect(Inspector& f, Barrier& x) {
    std::int64_t timeout_ns = x.timeout_ ? x.timeout_->count() : -1;
    f(timeout_ns);
    detail::inspect_block(f, x.block_);
    detail::BarrierActionRef ref;
    if constexpr (!Inspector::writes_state) ref = detail::barrier_action_ref(x.action_fn_, x.action_ != nullptr);
    f(ref.kind, ref.name, ref.offset);
    if constexpr (Inspector::writes_state) {
      x.timeout_ = timeout_ns < 0 ? std::nullopt : std::optional(std::chrono::nanoseconds(timeout_ns));
      x.action_.reset();
      x.action_fn_ = detail::barrier_action_from(ref);
    }
  }

 private:
  std::uint32_t wait_until(detail::Deadline d);
  detail::SharedBlock block_;
  std::shared_ptr<std::function<void()>> action_;  // a closure: this image only
  detail::BarrierAction action_fn_ = nullptr;       // a plain function: travels
  std::optional<std::chrono::nanoseconds> timeout_;
};

}  // namespace kin
