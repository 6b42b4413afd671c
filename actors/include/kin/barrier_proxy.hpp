// kin::BarrierProxy: a barrier kept by a kin::Manager's server process (Python's m.Barrier(n)).
//
//   auto b = m.Barrier(3);
//   std::int64_t i = b.wait();       // in each of 3 processes: returns 0, 1 or 2 (arrival order)
//   b.wait(1s);                      // kin::BrokenBarrierError if the others do not come in time
//
// As threading.Barrier: a wait that times out, abort(), or reset() while parties wait breaks
// it for every waiter (kin::BrokenBarrierError); a broken barrier stays broken until reset().
// A waiter that dies (its connection closes) breaks it too, so the others never wait forever.
// When the server is gone every call is kin::ManagerLost.
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <chrono>
#include <cstdint>
#include <tuple>

namespace kin {

class BarrierProxy : public detail::mgr::ProxyBase {
  using Op = detail::mgr::Op;

 public:
  BarrierProxy() = default;
  using ProxyBase::ProxyBase;

  /// Waits for all parties; returns this party's arrival index (0 .. parties - 1).
  std::int64_t wait() { return wait_for(-1); }
  template <class Rep, class Period>
  std::int64_t wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_for(detail::mgr::timeout_us(timeout));
  }
  void abort() { simple(Op::b_abort); }
  void reset() { simple(Op::b_reset); }
  [[nodiscard]] std::int64_t parties() const { return std::get<0>(state()); }
  [[nodiscard]] std::int64_t n_waiting() const { return std::get<1>(state()); }
  [[nodiscard]] bool broken() const { return std::get<2>(state()); }

 private:
  std::int64_t wait_for(std::int64_t us) {
    auto f = request(Op::b_wait);
    detail::Writer{f}.raw(&us, sizeof us);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    return detail::mgr::get_num<std::int64_t>(rd);
  }
  void simple(Op op) {
    auto f = request(op);
    (void)call(f);
  }
  [[nodiscard]] std::tuple<std::int64_t, std::int64_t, bool> state() const {
    auto f = request(Op::b_state);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    auto parties = detail::mgr::get_num<std::int64_t>(rd);
    auto waiting = detail::mgr::get_num<std::int64_t>(rd);
    bool broken = false;
    rd.apply(broken);
    return {parties, waiting, broken};
  }
};

}  // namespace kin
