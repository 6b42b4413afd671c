// kin::ArrayProxy<T>: a fixed-size array kept by a kin::Manager's server process (Python's
// m.Array(typecode, sequence)).
//
//   auto a = m.Array<double>({1.0, 2.0, 3.0});     // or m.Array<int>(10): ten zeros
//   a[0] = 5.0;  double x = a[-1];  a.size();  std::vector<double> all = a.to_vector();
//
// Every call is one atomic request to the server; an index counts from the end when negative,
// and one out of range is kin::IndexError. Unlike a ListProxy it never grows or shrinks. For
// arrays that only related processes share, kin::Array (shared memory, no server) is much
// faster; this one reaches unrelated processes and other machines. When the server is gone
// every call is kin::ManagerLost. An ArrayProxy can be passed to other processes.
#pragma once

#include <kin/list_proxy.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace kin {

template <class T>
class ArrayProxy : private ListProxy<T> {
  using Base = ListProxy<T>;

 public:
  using value_type = T;

  ArrayProxy() = default;
  /// The array of a ListProxy that already has its elements (Manager::Array makes one).
  explicit ArrayProxy(Base list) : Base(std::move(list)) {}

  using Base::get;
  using Base::set;
  using Base::size;
  using Base::to_vector;
  using Base::operator[];
  using Base::id;
  using Base::operator bool;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, ArrayProxy& x) {
    return inspect(f, static_cast<detail::mgr::ProxyBase&>(x));
  }
};

}  // namespace kin
