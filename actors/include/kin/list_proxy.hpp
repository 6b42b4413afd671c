// kin::ListProxy<T>: a list kept by a kin::Manager's server process (Python's ListProxy).
//
//   auto l = m.list<int>();
//   l.append(1);  l.extend(std::vector{2, 3});  l[0] = 10;  int x = l.get(-1);   // 3
//   l.pop();  l.size();  l.to_vector();
//
// Every call is one atomic request to the server. Indexes count from the end when negative,
// as in Python; one out of range is kin::IndexError. When the server is gone every call is
// kin::ManagerLost. A ListProxy can be passed to other processes. Pipelined: append_async and
// get_async return a kin::ManagerFuture at once (manager_proxy.hpp).
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <cstddef>
#include <cstdint>
#include <ranges>
#include <vector>

namespace kin {

template <class T>
class ListProxy : public detail::mgr::ProxyBase {
  static_assert(serializable<T>, "kin::ListProxy<T>: T must be kin::serializable");
  using Op = detail::mgr::Op;

 public:
  using value_type = T;

  ListProxy() = default;
  using ProxyBase::ProxyBase;

  void append(const T& v) {
    auto f = request(Op::l_append);
    detail::Writer w{f};
    detail::mgr::put_value(w, v);
    (void)call(f);
  }
  /// Pipelined append (its future's get() reports an error).
  ManagerFuture<void> append_async(const T& v) {
    auto f = request(Op::l_append);
    detail::Writer w{f};
    detail::mgr::put_value(w, v);
    return submit<void>(f);
  }
  /// Appends every element of `range`, atomically (no other call sees half of them).
  template <class Range>
  void extend(const Range& range) {
    auto f = request(Op::l_extend);
    detail::Writer w{f};
    w.varint(static_cast<std::uint64_t>(std::ranges::distance(range)));
    for (const auto& v : range) detail::mgr::put_value(w, static_cast<const T&>(v));
    (void)call(f);
  }
  /// Inserts before index i (clamped to the list, as Python's insert).
  void insert(std::int64_t i, const T& v) {
    auto f = request(Op::l_insert);
    detail::Writer w{f};
    w.raw(&i, sizeof i);
    detail::mgr::put_value(w, v);
    (void)call(f);
  }
  /// Element i (negative: from the end); kin::IndexError out of range.
  [[nodiscard]] T get(std::int64_t i) const {
    auto f = request(Op::l_get);
    detail::Writer{f}.raw(&i, sizeof i);
    return value_of(call(f));
  }
  /// Pipelined get (kin::IndexError from its future's get()).
  [[nodiscard]] ManagerFuture<T> get_async(std::int64_t i) const {
    auto f = request(Op::l_get);
    detail::Writer{f}.raw(&i, sizeof i);
    return submit<T>(f, &value_of);
  }
  void set(std::int64_t i, const T& v) {
    auto f = request(Op::l_set);
    detail::Writer w{f};
    w.raw(&i, sizeof i);
    detail::mgr::put_value(w, v);
    (void)call(f);
  }
  /// Removes and returns element i (default: the last); kin::IndexError when out of range or empty.
  T pop(std::int64_t i = -1) {
    auto f = request(Op::l_pop);
    detail::Writer{f}.raw(&i, sizeof i);
    return value_of(call(f));
  }
  [[nodiscard]] std::size_t size() const {
    auto f = request(Op::l_size);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    return static_cast<std::size_t>(detail::mgr::get_num<std::uint64_t>(rd));
  }
  [[nodiscard]] bool empty() const { return size() == 0; }
  /// A copy of the whole list, in one round trip.
  [[nodiscard]] std::vector<T> to_vector() const {
    auto f = request(Op::l_all);
    auto r = call(f);
    auto rd = detail::mgr::reader(r);
    std::vector<T> out(detail::mgr::get_count(rd));
    for (auto& x : out) x = detail::mgr::blob_value<T>(detail::mgr::get_blob(rd));
    return out;
  }
  void clear() {
    auto f = request(Op::l_clear);
    (void)call(f);
  }

  /// l[i] = v sets, T x = l[i] gets.
  class Ref {
   public:
    Ref(ListProxy& l, std::int64_t i) : l_(l), i_(i) {}
    Ref& operator=(const T& v) {
      l_.set(i_, v);
      return *this;
    }
    operator T() const { return l_.get(i_); }  // NOLINT(google-explicit-constructor): l[i] reads

   private:
    ListProxy& l_;
    std::int64_t i_;
  };
  Ref operator[](std::int64_t i) { return Ref{*this, i}; }
  T operator[](std::int64_t i) const { return get(i); }

 private:
  static T value_of(const Bytes& r) {
    auto rd = detail::mgr::reader(r);
    return detail::mgr::blob_value<T>(detail::mgr::get_blob(rd));
  }
};

}  // namespace kin
