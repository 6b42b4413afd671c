// Private: the parent-side life of one process actor (its Process, channel and I/O thread),
// as the ActorSystem sees it to stop it in order at destruction.
#pragma once

#include <chrono>
#include <memory>

namespace kin::detail {

class ProcessActorCore {
 public:
  virtual ~ProcessActorCore() = default;
  /// Asks the child to end: SIGTERM, or SIGKILL when `kill`.
  virtual void request_stop(bool kill) = 0;
  /// Waits until the child is reaped and the proxy has gone down; true when it has.
  virtual bool wait_done(std::chrono::milliseconds timeout) = 0;
  [[nodiscard]] virtual bool done() const = 0;
  /// Joins the I/O thread (after done()).
  virtual void join() = 0;
};

}  // namespace kin::detail
