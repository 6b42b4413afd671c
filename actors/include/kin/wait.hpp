// kin::wait(objects, timeout): waits until one or more of several objects is ready and says
// which (Python's multiprocessing.connection.wait). Objects: Connections (a message or EOF
// can be received), Queues (an item can be got, or the queue is closed), Processes and raw
// fds such as Process::sentinel() (readable: the process ended).
//
//   auto ready = kin::wait({conn, queue, proc}, 1s);   // indices of the ready ones, in order
//
// Returns an empty vector on timeout. Queues have no fd: they are checked between poll
// slices of at most 1 ms, so a queue becomes "ready" at most ~1 ms after the put.
#pragma once

#include <kin/connection.hpp>
#include <kin/process.hpp>
#include <kin/queue.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

namespace kin {

/// Something kin::wait can wait on (built implicitly from the objects above).
struct Waitable {
  int fd = -1;                        // polled for readability when >= 0
  std::function<bool()> ready_now;    // readiness that poll cannot see (buffered data, queues)

  Waitable(int raw_fd) : fd(raw_fd) {}  // NOLINT: implicit on purpose
  template <class T>
  Waitable(Connection<T>& c) : fd(c.fileno()), ready_now([&c] { return c.poll(std::chrono::seconds(0)); }) {}
  template <class T>
  Waitable(Queue<T>& q) : ready_now([&q] { return !q.empty() || q.closed(); }) {}
  Waitable(Process& p) : fd(p.sentinel()) {}
};

/// Indices of the objects that are ready, waiting at most `timeout` (none = forever).
std::vector<std::size_t> wait(const std::vector<Waitable>& objects,
                              std::optional<std::chrono::milliseconds> timeout = std::nullopt);

template <class Rep, class Period>
std::vector<std::size_t> wait(const std::vector<Waitable>& objects, std::chrono::duration<Rep, Period> timeout) {
  return wait(objects, std::optional<std::chrono::milliseconds>(std::chrono::ceil<std::chrono::milliseconds>(timeout)));
}

}  // namespace kin
