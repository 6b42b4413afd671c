// kin::detail::PoolCore: the type-erased engine under kin::Pool and kin::ProcessPoolExecutor.
// It starts the workers (forked, or kin::Processes under spawn/forkserver), hands them tasks (a
// chunk of a map is one task) through a pair of shared-memory rings per worker (SpscRing:
// tasks in, replies out; the submitting thread writes into a ring itself), reads the replies on
// one pool thread, and turns a worker's death (EOF on its socket, then its exit status) into
// WorkerLost for the task it was running — then starts a new one.
//
// A task is (invoker, function, encoded arguments); the invoker is a template instantiation
// that decodes the arguments, calls the function and encodes the result. Both addresses are
// valid in a forked worker; a spawn or forkserver worker is told each one once as a CodeRef
// and gets small ids after that. Completions run on the pool thread, never under its lock.
//
// What a crash does: a worker crash fails only the task it held; a crash of the owning process
// takes its workers with it (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <kin/codec.hpp>
#include <kin/detail/result_state.hpp>
#include <kin/pool_options.hpp>

namespace kin::detail {

/// Decodes `in`, runs the function at `fn` and encodes its result into `out`; throws what it throws.
using PoolInvoker = void (*)(std::uintptr_t fn, std::span<const std::byte> in, Bytes& out);

struct PoolOutcome {
  bool ok = false;
  Bytes value;               // the encoded result when ok
  std::exception_ptr error;  // RemoteError, WorkerLost, TimeoutError, CancelledError otherwise
};

struct PoolTask {
  PoolInvoker invoker = nullptr;
  std::uintptr_t fn = 0;
  Bytes args;
  /// Runs once on the pool thread (or on the caller of terminate) with the outcome: `finish`
  /// when set (a plain function of the task, for the one-result path: no allocation), else
  /// `done`.
  std::function<void(PoolOutcome&&)> done;
  void (*finish)(PoolTask&, PoolOutcome&&) = nullptr;
  void complete(PoolOutcome&& o) {
    if (finish != nullptr) {
      finish(*this, std::move(o));
    } else {
      done(std::move(o));
    }
  }
  /// When set, a task whose state is already complete (cancelled) is skipped at dispatch.
  std::shared_ptr<ResultStateBase> state;
  std::size_t kills = 0;
  bool started = false;  // set_running() was called (a retried task keeps its state running)
  std::uint64_t id = 0;
};

class PoolCore {
 public:
  /// `default_prefetch`: PoolOptions::prefetch when unset (2 for a Pool, 0 for an executor).
  explicit PoolCore(PoolOptions options, std::size_t default_prefetch = 2);
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;
  ~PoolCore();

  /// Queues a task; ValueError after close/terminate. Returns the task's id.
  std::uint64_t submit(std::unique_ptr<PoolTask> task);
  /// Queues many tasks at once (one wake-up of the pool thread).
  void submit_all(std::vector<std::unique_ptr<PoolTask>>& tasks);
  void close();
  /// Waits until every queued task is done, then stops the workers. ValueError unless closed.
  void join();
  /// Kills the workers now; unfinished tasks complete with CancelledError.
  void terminate();
  /// Kills the worker running task `id` (its task fails with CancelledError); false when the
  /// task is not running.
  bool kill_task(std::uint64_t id);
  /// Completes every queued, not yet dispatched task with CancelledError.
  void cancel_pending();

  [[nodiscard]] std::size_t processes() const noexcept;
  [[nodiscard]] std::vector<pid_t> worker_pids() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kin::detail
