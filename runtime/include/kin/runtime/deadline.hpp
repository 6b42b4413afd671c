// kin::detail::Deadline: the one way a timed call counts its time. A call that takes a timeout
// turns it into a Deadline once, at its start, and hands that Deadline to every step (connect,
// handshake, each read, a lock, a futex wait), so the timeout bounds the whole call, never
// each step of it.
//
//   auto d = Deadline::after(timeout);         // or Deadline::from(optional_timeout)
//   while (!ready()) { if (d.expired()) return false; poll(fd, POLLIN, d.poll_ms()); }
//
// Deadline::never() waits forever. A zero or negative timeout is already expired ("do not
// wait"), as Python treats them.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <optional>

namespace kin::detail {

class Deadline {
 public:
  using clock = std::chrono::steady_clock;

  /// never().
  constexpr Deadline() noexcept = default;
  // The spellings of std::optional<clock::time_point>, which timed calls used before this type
  // (futex waits, robust mutexes, condition loops): std::nullopt is never(), a time point is
  // at(it), `if (d)` asks "finite?" and `*d` / `d->` give when().
  constexpr Deadline(std::nullopt_t) noexcept {}  // NOLINT(google-explicit-constructor)
  constexpr Deadline(clock::time_point when) noexcept : finite_(true), when_(when) {}  // NOLINT
  constexpr explicit operator bool() const noexcept { return finite_; }
  constexpr clock::time_point operator*() const noexcept { return when_; }
  constexpr const clock::time_point* operator->() const noexcept { return &when_; }

  /// No deadline: wait forever.
  static constexpr Deadline never() { return Deadline{}; }
  /// `timeout` from now.
  template <class Rep, class Period>
  static Deadline after(std::chrono::duration<Rep, Period> timeout) {
    Deadline d;
    d.finite_ = true;
    // Saturate: after(hours::max()) must not overflow into the past.
    const auto now = clock::now();
    const auto left = std::chrono::duration_cast<clock::duration>(
        std::min<std::chrono::duration<double>>(timeout, std::chrono::hours{24 * 365 * 100}));
    d.when_ = now + left;
    return d;
  }
  /// never() for std::nullopt, else after(*timeout).
  template <class Rep, class Period>
  static Deadline from(const std::optional<std::chrono::duration<Rep, Period>>& timeout) {
    return timeout ? after(*timeout) : never();
  }
  static constexpr Deadline at(clock::time_point when) {
    Deadline d;
    d.finite_ = true;
    d.when_ = when;
    return d;
  }

  [[nodiscard]] constexpr bool infinite() const { return !finite_; }
  [[nodiscard]] bool expired() const { return finite_ && clock::now() >= when_; }
  /// Only meaningful when finite.
  [[nodiscard]] constexpr clock::time_point when() const { return when_; }
  /// Time left (zero once expired; clock::duration::max() when infinite).
  [[nodiscard]] clock::duration remaining() const {
    if (!finite_) return clock::duration::max();
    return std::max(when_ - clock::now(), clock::duration::zero());
  }
  /// For poll(2)/epoll_wait(2): -1 when infinite, else the milliseconds left, rounded up.
  [[nodiscard]] int poll_ms() const {
    if (!finite_) return -1;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining()).count();
    return static_cast<int>(std::min<long long>(ms, INT_MAX));
  }
  /// For calls that take a relative timespec (futex FUTEX_WAIT): the time left.
  [[nodiscard]] timespec relative_timespec() const {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining()).count();
    return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  }
  /// The earlier of two deadlines.
  [[nodiscard]] friend Deadline earliest(const Deadline& a, const Deadline& b) {
    if (a.infinite()) return b;
    if (b.infinite()) return a;
    return a.when_ <= b.when_ ? a : b;
  }

 private:
  bool finite_ = false;
  clock::time_point when_{};
};

}  // namespace kin::detail
