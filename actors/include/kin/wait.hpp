// kin::wait(objects, timeout): waits until one or more of several objects is ready and says
// which (Python's multiprocessing.connection.wait). Objects: Connections (a message or EOF
// can be received), Queues (an item can be got, or the queue is closed), Processes and raw
// fds such as Process::sentinel() (readable: the process ended).
//
//   auto ready = kin::wait({conn, queue, proc}, 1s);   // indices of the ready ones, in order
//
// Returns every object that is ready when it returns (not only the first kind found), or an
// empty vector on timeout. Nothing is polled: the caller sleeps on the queues' doorbells (the
// futex word a put rings, futex_waitv) and, when fds are in the list too, the runtime thread
// watches them and rings the caller's own doorbell. A waiter woken by a queue that it then
// does not take from passes the wake-up on to the queue's other sleepers.
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
  detail::ShmRing::Doorbell bell{nullptr, nullptr};  // a queue's: rung by every put and close

  Waitable(int raw_fd) : fd(raw_fd) {}  // NOLINT: implicit on purpose
  template <class T>
  Waitable(Connection<T>& c) : fd(c.fileno()), ready_now([&c] { return c.poll(std::chrono::seconds(0)); }) {}
  template <class T>
  Waitable(Queue<T>& q) : ready_now([&q] { return !q.empty() || q.closed(); }), bell(q.doorbell()) {}
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
