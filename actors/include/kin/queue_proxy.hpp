// kin::QueueProxy<T>: a queue kept by a kin::Manager's server process (Python's m.Queue()).
//
//   auto q = m.Queue<std::string>();          // m.Queue<T>(maxsize) for a bounded one
//   q.put("job");  std::string s = q.get();  q.get(100ms);   // std::nullopt when empty in time
//
// The same calls as kin::Queue: put/put(v, timeout)/put_nowait (kin::Full), get/get(timeout)/
// get_nowait (kin::Empty), qsize/empty/full. A blocking call waits on the server (which
// answers when an item or room appears, or at the timeout), so it costs no polling; a
// waiter that dies leaves the queue intact. When the server is gone every call is
// kin::ManagerLost, including a get already waiting. Slower than kin::Queue (a round trip
// per item) but it can be reached by unrelated processes and over the network.
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace kin {

template <class T>
class QueueProxy : public detail::mgr::ProxyBase {
  static_assert(serializable<T>, "kin::QueueProxy<T>: T must be kin::serializable");
  using Op = detail::mgr::Op;

 public:
  QueueProxy() = default;
  using ProxyBase::ProxyBase;

  void put(const T& v) { (void)put_for(v, -1); }
  template <class Rep, class Period>
  [[nodiscard]] bool put(const T& v, std::chrono::duration<Rep, Period> timeout) {
    return put_for(v, detail::mgr::timeout_us(timeout));
  }
  void put_nowait(const T& v) {
    if (!put_for(v, 0)) throw Full();
  }
  [[nodiscard]] T get() { return *get_for(-1); }
  template <class Rep, class Period>
  [[nodiscard]] std::optional<T> get(std::chrono::duration<Rep, Period> timeout) {
    return get_for(detail::mgr::timeout_us(timeout));
  }
  [[nodiscard]] T get_nowait() {
    auto v = get_for(0);
    if (!v) throw Empty();
    return std::move(*v);
  }
  [[nodiscard]] std::size_t qsize() const { return sizes().first; }
  [[nodiscard]] bool empty() const { return qsize() == 0; }
  [[nodiscard]] bool full() const {
    auto [n, max] = sizes();
    return max != 0 && n >= max;
  }

 private:
  bool put_for(const T& v, std::int64_t us) {
    auto f = request(Op::q_put);
    detail::Writer w{f};
    w.raw(&us, sizeof us);
    detail::mgr::put_value(w, v);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    bool ok = false;
    rd.apply(ok);
    return ok;
  }
  std::optional<T> get_for(std::int64_t us) {
    auto f = request(Op::q_get);
    detail::Writer{f}.raw(&us, sizeof us);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    bool ok = false;
    rd.apply(ok);
    if (!ok) return std::nullopt;
    return detail::mgr::blob_value<T>(detail::mgr::get_blob(rd));
  }
  std::pair<std::size_t, std::size_t> sizes() const {
    auto f = request(Op::q_size);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    auto n = detail::mgr::get_num<std::uint64_t>(rd);
    auto max = detail::mgr::get_num<std::uint64_t>(rd);
    return {static_cast<std::size_t>(n), static_cast<std::size_t>(max)};
  }
};

}  // namespace kin
