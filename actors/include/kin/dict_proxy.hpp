// kin::DictProxy<K, V>: a dict kept by a kin::Manager's server process (Python's DictProxy).
//
//   kin::Manager m;
//   auto d = m.dict<std::string, int>();
//   d.set("a", 1);  d["b"] = 2;  int a = d.get("a");  d.get("zz", 0);   // 0: the default
//   d.add("hits", 1);              // atomic read-modify-write, one round trip, no lock
//   kin::Process p{worker, d};     // a proxy travels to other processes (any start method)
//
// Every call is one request to the server and runs there atomically; compound operations
// (setdefault, pop, update, add, apply of a KIN_MANAGER_FUNCTION) are one request too, so the
// common read-modify-write needs no lock. Keys are compared by their kin encoding. A missing
// key is kin::KeyError; when the server is gone, every call is kin::ManagerLost (never a hang).
//
// Pipelined: set_async, get_async, contains_async, erase_async and add_async queue the request
// and return a kin::ManagerFuture at once; many travel in one write and are answered in order
// (manager_proxy.hpp). A synchronous call waits for the async requests made before it, so it
// sees their effects.
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <cstddef>
#include <map>
#include <ranges>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace kin {

template <class K, class V>
class DictProxy : public detail::mgr::ProxyBase {
  static_assert(serializable<K> && serializable<V>, "kin::DictProxy<K, V>: K and V must be kin::serializable");
  using Op = detail::mgr::Op;

 public:
  using key_type = K;
  using mapped_type = V;

  DictProxy() = default;
  using ProxyBase::ProxyBase;

  void set(const K& k, const V& v) {
    auto f = request(Op::d_set);
    detail::Writer w{f};
    detail::mgr::put_value(w, k);
    detail::mgr::put_value(w, v);
    (void)call(f);
  }
  /// The value at k; kin::KeyError when there is none.
  [[nodiscard]] V get(const K& k) const {
    auto r = key_call(Op::d_get, k);
    auto rd = detail::mgr::reader(r);
    return detail::mgr::blob_value<V>(detail::mgr::get_blob(rd));
  }
  /// The value at k, or `otherwise` when there is none.
  [[nodiscard]] V get(const K& k, const V& otherwise) const {
    auto r = key_call(Op::d_get_opt, k);
    auto rd = detail::mgr::reader(r);
    bool found = false;
    rd.apply(found);
    return found ? detail::mgr::blob_value<V>(detail::mgr::get_blob(rd)) : otherwise;
  }
  [[nodiscard]] bool contains(const K& k) const { return flag(key_call(Op::d_contains, k)); }
  /// Removes k; true when it was there.
  bool erase(const K& k) { return flag(key_call(Op::d_erase, k)); }
  [[nodiscard]] std::size_t size() const {
    auto f = request(Op::d_size);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    return static_cast<std::size_t>(detail::mgr::get_num<std::uint64_t>(rd));
  }
  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] std::vector<K> keys() const { return blobs<K>(Op::d_keys); }
  [[nodiscard]] std::vector<V> values() const { return blobs<V>(Op::d_values); }
  [[nodiscard]] std::vector<std::pair<K, V>> items() const {
    auto f = request(Op::d_items);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    std::vector<std::pair<K, V>> out(detail::mgr::get_count(rd));
    for (auto& [k, v] : out) {
      k = detail::mgr::blob_value<K>(detail::mgr::get_blob(rd));
      v = detail::mgr::blob_value<V>(detail::mgr::get_blob(rd));
    }
    return out;
  }
  /// A copy of the whole dict (Python's dict(d) / d.copy()), in one round trip.
  [[nodiscard]] std::map<K, V> to_map() const {
    std::map<K, V> m;
    for (auto& [k, v] : items()) m.insert_or_assign(std::move(k), std::move(v));
    return m;
  }
  /// Sets every (key, value) of `pairs` (a map or a range of pairs) in one atomic request.
  template <class Range>
  void update(const Range& pairs) {
    auto f = request(Op::d_update);
    detail::Writer w{f};
    w.varint(static_cast<std::uint64_t>(std::ranges::distance(pairs)));
    for (const auto& [k, v] : pairs) {
      detail::mgr::put_value(w, static_cast<const K&>(k));
      detail::mgr::put_value(w, static_cast<const V&>(v));
    }
    (void)call(f);
  }
  /// The value at k, after setting it to `v` if k was missing (Python's setdefault).
  V setdefault(const K& k, const V& v) { return value_of(kv_call(Op::d_setdefault, k, v)); }
  /// Removes k and returns its value; kin::KeyError when missing.
  V pop(const K& k) {
    auto r = key_call(Op::d_pop, k);
    auto rd = detail::mgr::reader(r);
    bool found = false;
    rd.apply(found);
    if (!found) throw KeyError("kin::DictProxy::pop: no such key");
    return detail::mgr::blob_value<V>(detail::mgr::get_blob(rd));
  }
  /// Removes k and returns its value, or `otherwise` when missing.
  V pop(const K& k, const V& otherwise) {
    auto r = key_call(Op::d_pop, k);
    auto rd = detail::mgr::reader(r);
    bool found = false;
    rd.apply(found);
    return found ? detail::mgr::blob_value<V>(detail::mgr::get_blob(rd)) : otherwise;
  }
  /// Atomically adds `delta` to the value at k (0 when missing) and returns the new value.
  V add(const K& k, V delta)
    requires std::is_arithmetic_v<V> && (!std::is_same_v<V, bool>)
  {
    auto f = add_request(k, delta);
    return value_of(call(f));
  }
  /// Runs the KIN_MANAGER_FUNCTION `function` on the server on the value at k (V{} when
  /// missing) with `arg`, stores the result and returns it — atomically, in one round trip.
  /// An unregistered name is kin::ValueError.
  template <class A>
  V apply(std::string_view function, const K& k, const A& arg) {
    auto f = request(Op::d_apply);
    detail::Writer w{f};
    detail::mgr::put_blob(w, function);
    detail::mgr::put_value(w, k);
    detail::mgr::put_value(w, arg);
    return value_of(call(f));
  }
  void clear() {
    auto f = request(Op::d_clear);
    (void)call(f);
  }

  /// Pipelined forms (a kin::ManagerFuture each; errors come from its get()).
  ManagerFuture<void> set_async(const K& k, const V& v) {
    auto f = request(Op::d_set);
    detail::Writer w{f};
    detail::mgr::put_value(w, k);
    detail::mgr::put_value(w, v);
    return submit<void>(f);
  }
  [[nodiscard]] ManagerFuture<V> get_async(const K& k) const { return key_submit<V>(Op::d_get, k, &value_of); }
  [[nodiscard]] ManagerFuture<bool> contains_async(const K& k) const { return key_submit<bool>(Op::d_contains, k, &flag); }
  ManagerFuture<bool> erase_async(const K& k) { return key_submit<bool>(Op::d_erase, k, &flag); }
  ManagerFuture<V> add_async(const K& k, V delta)
    requires std::is_arithmetic_v<V> && (!std::is_same_v<V, bool>)
  {
    auto f = add_request(k, delta);
    return submit<V>(f, &value_of);
  }

  /// d[k] = v sets, V x = d[k] gets (KeyError when missing), d[k] += n adds atomically.
  class Ref {
   public:
    Ref(DictProxy& d, const K& k) : d_(d), k_(k) {}
    Ref& operator=(const V& v) {
      d_.set(k_, v);
      return *this;
    }
    operator V() const { return d_.get(k_); }  // NOLINT(google-explicit-constructor): d[k] reads
    V operator+=(V delta)
      requires std::is_arithmetic_v<V> && (!std::is_same_v<V, bool>)
    {
      return d_.add(k_, delta);
    }
    V operator-=(V delta)
      requires std::is_arithmetic_v<V> && std::is_signed_v<V>
    {
      return d_.add(k_, static_cast<V>(-delta));
    }

   private:
    DictProxy& d_;
    K k_;
  };
  Ref operator[](const K& k) { return Ref{*this, k}; }
  V operator[](const K& k) const { return get(k); }

 private:
  Bytes key_request(Op op, const K& k) const {
    auto f = request(op);
    detail::Writer w{f};
    detail::mgr::put_value(w, k);
    return f;
  }
  Bytes add_request(const K& k, V delta) const {
    auto f = key_request(Op::d_add, k);
    detail::Writer w{f};
    const auto num = detail::mgr::num_of<V>();
    w.raw(&num, 1);
    w.raw(&delta, sizeof delta);
    return f;
  }
  Bytes key_call(Op op, const K& k) const {
    auto f = key_request(op, k);
    return call(f);
  }
  template <class T>
  ManagerFuture<T> key_submit(Op op, const K& k, T (*decode)(const Bytes&)) const {
    auto f = key_request(op, k);
    return submit<T>(f, decode);
  }
  Bytes kv_call(Op op, const K& k, const V& v) const {
    auto f = request(op);
    detail::Writer w{f};
    detail::mgr::put_value(w, k);
    detail::mgr::put_value(w, v);
    return call(f);
  }
  static bool flag(const Bytes& r) {
    auto rd = detail::mgr::reader(r);
    bool b = false;
    rd.apply(b);
    return b;
  }
  static V value_of(const Bytes& r) {
    auto rd = detail::mgr::reader(r);
    return detail::mgr::blob_value<V>(detail::mgr::get_blob(rd));
  }
  template <class T>
  std::vector<T> blobs(Op op) const {
    auto f = request(op);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    std::vector<T> out(detail::mgr::get_count(rd));
    for (auto& x : out) x = detail::mgr::blob_value<T>(detail::mgr::get_blob(rd));
    return out;
  }
};

}  // namespace kin
