// kin::PoolOptions: the keyword arguments of Python's Pool(processes, initializer,
// maxtasksperchild), shared by kin::Pool and kin::ThreadPool, plus kin's fault-handling knobs
// for process pools.
//
//   kin::Pool pool{kin::PoolOptions{.processes = 4, .initializer = setup, .maxtasksperchild = 100,
//                                   .task_timeout = std::chrono::seconds(5)}};
//
// processes = 0 means kin::process_cpu_count(). The initializer runs first in every worker; one that
// throws is reported and breaks the pool (its tasks fail with that exception) instead of
// Python's endless respawn. maxtasksperchild = 0 means a worker lives as long as the pool.
// ThreadPool reads only the first three fields.
//
// What a crash does: nothing — a plain value.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>

#include <kin/start_method.hpp>

namespace kin {

struct PoolOptions {
  /// Number of workers; 0: kin::process_cpu_count() (the CPUs this process may use).
  std::size_t processes = 0;
  /// Runs at the start of every worker (a function pointer or any callable; a function
  /// pointer under spawn and forkserver).
  std::function<void()> initializer{};
  /// Tasks a worker runs before it is replaced; 0: unlimited.
  std::size_t maxtasksperchild = 0;
  /// Process pools: how workers start (fork, spawn or forkserver); unset means fork.
  std::optional<StartMethod> start_method{};
  /// Process pools: how many times a task whose worker died is run again before it fails
  /// with WorkerLost (0: never, like Python's futures).
  std::size_t max_retries = 0;
  /// Process pools: a task that has killed this many workers is failed without another try,
  /// whatever max_retries says.
  std::size_t max_worker_kills = 3;
  /// Process pools: a task running longer than this has its worker killed (only that worker)
  /// and fails with TimeoutError; the pool replaces the worker.
  std::optional<std::chrono::milliseconds> task_timeout{};
  /// Process pools: tasks sent to a worker ahead of the one it runs, so that small tasks do
  /// not each wait for a round trip. Unset: 2 for a Pool, 0 for a ProcessPoolExecutor, and up
  /// to 511 while the worker's last task ran under 20 us (short tasks travel in batches; a long
  /// one sends the window back to 2 or 0). Set: exactly that many, whatever the tasks cost. A
  /// task sent ahead counts as running (a Future can no longer be cancelled without force) and
  /// waits behind its worker's current task; if that worker dies, it goes back to the queue unrun.
  std::optional<std::size_t> prefetch{};
};

}  // namespace kin
