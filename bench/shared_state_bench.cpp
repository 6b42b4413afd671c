// Shared-state figures (contract: bench/bench_util.hpp):
//   kin.value_lock.2proc   ops/s of `auto g = v.locked(); *g += 1;` by two processes at once
//   kin.lock.uncontended   kin::Lock acquire()+release() pairs/s, one thread
//   kin.rtt.event          us per round trip of an Event hand-off between two processes
//   kin.rtt.futex_floor    us per round trip of a bare shared futex word, same run (the floor)
// plus what explains the gaps: kin.lock.pthread_robust_uncontended (the bare robust mutex) and
// kin.value_lock.1proc (the same loop uncontended).
#include "bench_util.hpp"

#include <kin/event.hpp>
#include <kin/lock.hpp>
#include <kin/runtime/futex.hpp>
#include <kin/runtime/robust_mutex.hpp>
#include <kin/runtime/shared_block.hpp>
#include <kin/value.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <class F>
pid_t fork_run(F f) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    f();
    ::_exit(0);
  }
  return pid;
}

void reap(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
}

void value_lock_2proc() {
  const long n = kin::bench::scaled(2'000'000, 1000);
  std::vector<double> rates;
  for (int rep = 0; rep < 3; ++rep) {
    kin::Value<long> v{0};
    kin::Event go;
    auto body = [&] {
      go.wait();
      for (long i = 0; i < n; ++i) {
        auto g = v.locked();
        *g += 1;
      }
    };
    pid_t a = fork_run(body);
    pid_t b = fork_run(body);
    auto t0 = Clock::now();
    go.set();
    reap(a);
    reap(b);
    double s = seconds_since(t0);
    if (v.load() != 2 * n) std::fprintf(stderr, "value_lock: wrong total %ld\n", v.load());
    rates.push_back(static_cast<double>(2 * n) / s);
  }
  kin::bench::emit("kin.value_lock.2proc", kin::bench::median(rates), "ops/s");
}

void value_lock_1proc() {
  const long n = kin::bench::scaled(5'000'000, 1000);
  kin::Value<long> v{0};
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) {
    auto g = v.locked();
    *g += 1;
  }
  kin::bench::emit("kin.value_lock.1proc", static_cast<double>(n) / seconds_since(t0), "ops/s");
}

void lock_uncontended() {
  const long n = kin::bench::scaled(10'000'000, 1000);
  kin::Lock l;
  std::vector<double> rates;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i) {
      l.acquire();
      l.release();
    }
    rates.push_back(static_cast<double>(n) / seconds_since(t0));
  }
  kin::bench::emit("kin.lock.uncontended", kin::bench::median(rates), "pairs/s");
}

void pthread_robust_uncontended() {
  const long n = kin::bench::scaled(10'000'000, 1000);
  auto block = kin::detail::SharedBlock::create(sizeof(kin::detail::RobustMutex), "bench");
  auto* m = block.as<kin::detail::RobustMutex>();
  m->init();
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) {
    m->lock();
    m->unlock();
  }
  kin::bench::emit("kin.lock.pthread_robust_uncontended", static_cast<double>(n) / seconds_since(t0), "pairs/s");
}

void rtt_event() {
  const long n = kin::bench::scaled(20'000, 100);
  kin::Event ping, pong, stop;
  pid_t pid = fork_run([&] {
    for (;;) {
      ping.wait();
      ping.clear();
      if (stop.is_set()) return;
      pong.set();
    }
  });
  std::vector<double> us;
  for (int batch = -1; batch < 5; ++batch) {
    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i) {
      ping.set();
      pong.wait();
      pong.clear();
    }
    if (batch >= 0) us.push_back(seconds_since(t0) / static_cast<double>(n) * 1e6);
  }
  stop.set();
  ping.set();
  reap(pid);
  kin::bench::emit("kin.rtt.event", kin::bench::median(us), "us");
}

void rtt_futex_floor() {
  const long n = kin::bench::scaled(20'000, 100);
  auto block = kin::detail::SharedBlock::create(64, "bench");
  auto* turn = block.as<std::atomic<std::uint32_t>>();
  turn->store(0);
  pid_t pid = fork_run([&] {
    for (;;) {
      std::uint32_t v;
      while ((v = turn->load()) == 0) kin::detail::futex_wait(turn, 0, std::nullopt);
      if (v == 2) return;
      turn->store(0);
      kin::detail::futex_wake(turn, 1);
    }
  });
  std::vector<double> us;
  for (int batch = -1; batch < 5; ++batch) {
    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i) {
      turn->store(1);
      kin::detail::futex_wake(turn, 1);
      while (turn->load() == 1) kin::detail::futex_wait(turn, 1, std::nullopt);
    }
    if (batch >= 0) us.push_back(seconds_since(t0) / static_cast<double>(n) * 1e6);
  }
  turn->store(2);
  kin::detail::futex_wake(turn, 1);
  reap(pid);
  kin::bench::emit("kin.rtt.futex_floor", kin::bench::median(us), "us");
}

}  // namespace

int main() {
  if (kin::bench::enabled("kin.value_lock.2proc")) value_lock_2proc();
  if (kin::bench::enabled("kin.value_lock.1proc")) value_lock_1proc();
  if (kin::bench::enabled("kin.lock.uncontended")) lock_uncontended();
  if (kin::bench::enabled("kin.lock.pthread_robust_uncontended")) pthread_robust_uncontended();
  if (kin::bench::enabled("kin.rtt.event")) rtt_event();
  if (kin::bench::enabled("kin.rtt.futex_floor")) rtt_futex_floor();
  return 0;
}
