// kin::ValueProxy<T>: one value kept by a kin::Manager's server process (Python's m.Value()).
//
//   auto v = m.Value<long>(0);
//   v.store(5);  long x = v.load();  v.add(1);     // atomic on the server: no lock needed
//
// Unlike kin::Value (shared memory, ~ns), every call is a round trip to the server (~µs), but
// T may be any serializable type and the value can be reached from unrelated processes and
// over the network. When the server is gone every call is kin::ManagerLost.
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <type_traits>

namespace kin {

template <class T>
class ValueProxy : public detail::mgr::ProxyBase {
  static_assert(serializable<T>, "kin::ValueProxy<T>: T must be kin::serializable");
  using Op = detail::mgr::Op;

 public:
  ValueProxy() = default;
  using ProxyBase::ProxyBase;

  [[nodiscard]] T load() const {
    auto f = request(Op::d_get);
    detail::Writer w{f};
    detail::mgr::put_blob(w, std::string_view{});
    return value_of(call(f));
  }
  void store(const T& v) {
    auto f = request(Op::d_set);
    detail::Writer w{f};
    detail::mgr::put_blob(w, std::string_view{});
    detail::mgr::put_value(w, v);
    (void)call(f);
  }
  /// Python's .value, both ways.
  [[nodiscard]] T get() const { return load(); }
  void set(const T& v) { store(v); }
  /// Atomically adds `delta` and returns the new value, in one round trip.
  T add(T delta)
    requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
  {
    auto f = request(Op::d_add);
    detail::Writer w{f};
    detail::mgr::put_blob(w, std::string_view{});
    const auto num = detail::mgr::num_of<T>();
    w.raw(&num, 1);
    w.raw(&delta, sizeof delta);
    return value_of(call(f));
  }

 private:
  static T value_of(const Bytes& r) {
    auto rd = detail::mgr::reader(r);
    return detail::mgr::blob_value<T>(detail::mgr::get_blob(rd));
  }
};

}  // namespace kin
