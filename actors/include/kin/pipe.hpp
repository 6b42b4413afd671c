// kin::Pipe<T>(): two connected Connection<T> ends (Python's multiprocessing.Pipe).
//   auto [a, b] = kin::Pipe<int>();               // duplex: both ends send and receive
//   auto [r, w] = kin::Pipe<int>(kin::simplex);   // r only receives, w only sends
// Duplex pipes are a Unix socketpair; simplex ones a pipe(2). Both fds are close-on-exec.
#pragma once

#include <kin/connection.hpp>
#include <kin/runtime/syscall.hpp>

#include <utility>

namespace kin {

/// Tag for a one-way Pipe (Python's Pipe(duplex=False)).
struct Simplex {};
inline constexpr Simplex simplex{};

template <class T>
std::pair<Connection<T>, Connection<T>> Pipe() {
  auto [a, b] = detail::make_socketpair();
  return {Connection<T>{std::move(a), true, true}, Connection<T>{std::move(b), true, true}};
}

template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(Simplex) {
  auto [r, w] = detail::make_pipe();
  return {Connection<T>{std::move(r), true, false}, Connection<T>{std::move(w), false, true}};
}

}  // namespace kin
