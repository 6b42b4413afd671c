// kin::EventProxy: an event flag kept by a kin::Manager's server process (Python's m.Event()).
//
//   auto e = m.Event();
//   e.set();  e.is_set();  e.wait();  e.wait(100ms);   // false when not set in time
//   e.clear();
//
// wait() waits on the server, which answers every waiter when the flag is set. When the
// server is gone every call — a wait already in progress included — is kin::ManagerLost.
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <chrono>
#include <cstdint>

namespace kin {

class EventProxy : public detail::mgr::ProxyBase {
  using Op = detail::mgr::Op;

 public:
  EventProxy() = default;
  using ProxyBase::ProxyBase;

  void set() { simple(Op::e_set); }
  void clear() { simple(Op::e_clear); }
  [[nodiscard]] bool is_set() const {
    auto f = request(Op::e_is_set);
    return flag(call(f));
  }
  void wait() { (void)wait_for(-1); }
  template <class Rep, class Period>
  [[nodiscard]] bool wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_for(detail::mgr::timeout_us(timeout));
  }

 private:
  void simple(Op op) {
    auto f = request(op);
    (void)call(f);
  }
  bool wait_for(std::int64_t us) {
    auto f = request(Op::e_wait);
    detail::Writer{f}.raw(&us, sizeof us);
    return flag(call(f));
  }
  static bool flag(const Bytes& r) {
    auto rd = detail::mgr::reader(r);
    bool b = false;
    rd.apply(b);
    return b;
  }
};

}  // namespace kin
