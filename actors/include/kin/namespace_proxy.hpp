// kin::NamespaceProxy: named attributes of any serializable type kept by a kin::Manager's
// server process (Python's Namespace).
//
//   auto ns = m.namespace_();
//   ns.set("x", 10);  ns.set<std::string>("name", "job");
//   int x = ns.get<int>("x");          // kin::KeyError when there is no attribute "x"
//
// Each attribute holds the value's kin encoding; get<T> decodes it as T, so reading it as
// another type than it was set is kin::ProtocolError (or garbage of the same size for two
// trivially copyable types of equal size). Every call is one atomic request; when the server
// is gone every call is kin::ManagerLost. A NamespaceProxy can be passed to other processes.
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <string>
#include <vector>

namespace kin {

class NamespaceProxy : public detail::mgr::ProxyBase {
  using Op = detail::mgr::Op;

 public:
  NamespaceProxy() = default;
  using ProxyBase::ProxyBase;

  template <class T>
  void set(const std::string& name, const T& v) {
    auto f = request(Op::d_set);
    detail::Writer w{f};
    detail::mgr::put_value(w, name);
    detail::mgr::put_value(w, v);
    (void)call(f);
  }
  template <class T>
  [[nodiscard]] T get(const std::string& name) const {
    auto f = request(Op::d_get);
    detail::Writer w{f};
    detail::mgr::put_value(w, name);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    return detail::mgr::blob_value<T>(detail::mgr::get_blob(rd));
  }
  template <class T>
  [[nodiscard]] T get(const std::string& name, const T& otherwise) const {
    auto f = request(Op::d_get_opt);
    detail::Writer w{f};
    detail::mgr::put_value(w, name);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    bool found = false;
    rd.apply(found);
    return found ? detail::mgr::blob_value<T>(detail::mgr::get_blob(rd)) : otherwise;
  }
  [[nodiscard]] bool contains(const std::string& name) const {
    auto f = request(Op::d_contains);
    detail::Writer w{f};
    detail::mgr::put_value(w, name);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    bool b = false;
    rd.apply(b);
    return b;
  }
  /// Removes the attribute (Python's delattr); true when it was there.
  bool erase(const std::string& name) {
    auto f = request(Op::d_erase);
    detail::Writer w{f};
    detail::mgr::put_value(w, name);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    bool b = false;
    rd.apply(b);
    return b;
  }
  /// The attributes' names.
  [[nodiscard]] std::vector<std::string> names() const {
    auto f = request(Op::d_keys);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    std::vector<std::string> out(detail::mgr::get_count(rd));
    for (auto& x : out) x = detail::mgr::blob_value<std::string>(detail::mgr::get_blob(rd));
    return out;
  }
};

}  // namespace kin
