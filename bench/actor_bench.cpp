// Actor figures: process actors (kin::spawn_process) and plain CAF actors in kin::ActorSystem.
//   metric=kin.actor.process.oneway  int messages/s, scoped_actor -> process actor, ended by one
//                                    request that returns the count (every message counted)
//   metric=kin.actor.process.rtt     request/response round trip to a process actor (µs)
//   metric=kin.actor.inproc.oneway   the same one-way run to a thread actor in kin::ActorSystem
//   metric=kin.actor.inproc.rtt      request/response round trip to a thread actor (µs)
//   metric=kin.actor.spawn           spawn_process (fork) until its first reply (µs, median)
// Peers (bench/peers.tsv): ../shared/bench-peers/limits_caf.cpp, which measures the same runs
// the same way with plain CAF and its middleman over a socketpair, and limits.c's socketpair
// round trip. Method as limits_caf's: one-way = n sends then one request; rtt = the median
// over 5 batches of the mean per request.
#include "bench_util.hpp"

#include <kin/init.hpp>
#include <kin/spawn_process.hpp>

#include <caf/all.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// limits_caf.cpp's sink: counts ints, answers a string with the count, echoes a double.
caf::behavior sink(caf::event_based_actor*) {
  auto n = std::make_shared<long>(0);
  return {
      [=](int) { ++*n; },
      [=](const std::string&) { return static_cast<std::int64_t>(*n); },
      [=](double x) { return x; },
  };
}

double oneway(caf::scoped_actor& self, const caf::actor& a, long n) {
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) self->send(a, static_cast<int>(i));
  std::int64_t got = -1;
  self->request(a, std::chrono::seconds(120), std::string("count"))
      .receive([&](std::int64_t c) { got = c; }, [&](caf::error& e) {
        std::fprintf(stderr, "actor_bench: %s\n", kin::describe(e).c_str());
      });
  double s = secs(t0);
  if (got < n) std::fprintf(stderr, "actor_bench: only %lld of %ld messages arrived\n", static_cast<long long>(got), n);
  return static_cast<double>(n) / s;
}

double rtt(caf::scoped_actor& self, const caf::actor& a, long n) {
  std::vector<double> batches;
  long batch = std::max(1L, n / 5);
  for (int b = 0; b < 5; ++b) {
    auto t0 = Clock::now();
    for (long i = 0; i < batch; ++i)
      self->request(a, std::chrono::seconds(10), 1.0).receive([](double) {}, [](caf::error&) {});
    batches.push_back(secs(t0) * 1e6 / static_cast<double>(batch));
  }
  return kin::bench::median(batches);
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  using kin::bench::enabled;
  kin::ActorSystem sys;
  caf::scoped_actor self{sys};
  kin::ProcessOptions fork_opts{.start_method = kin::StartMethod::fork};
  // First: fork copies the parent's page tables, and the one-way runs below leave the heap
  // at ~90 MB (a million messages buffered in a mailbox), which would triple this figure.
  if (enabled("kin.actor.spawn")) {
    std::vector<double> us;
    long runs = kin::bench::scaled(50, 5);
    for (long i = 0; i < runs; ++i) {
      auto t0 = Clock::now();
      auto a = kin::spawn_process(sys, fork_opts, sink);
      self->request(a, std::chrono::seconds(10), 1.0).receive([](double) {}, [](caf::error&) {});
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      self->monitor(a);
      caf::anon_send_exit(a, caf::exit_reason::kill);
      self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(10)) >> [] {});
    }
    kin::bench::emit("kin.actor.spawn", kin::bench::median(us), "us");
  }
  if (enabled("kin.actor.inproc.oneway") || enabled("kin.actor.inproc.rtt")) {
    auto local = sys.spawn(sink);
    if (enabled("kin.actor.inproc.oneway"))
      kin::bench::emit("kin.actor.inproc.oneway", oneway(self, local, kin::bench::scaled(2000000, 100)), "msgs/s");
    if (enabled("kin.actor.inproc.rtt"))
      kin::bench::emit("kin.actor.inproc.rtt", rtt(self, local, kin::bench::scaled(50000, 100)), "us");
    caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  }
  if (enabled("kin.actor.process.oneway") || enabled("kin.actor.process.rtt")) {
    auto remote = kin::spawn_process(sys, fork_opts, sink);
    if (enabled("kin.actor.process.oneway"))
      kin::bench::emit("kin.actor.process.oneway", oneway(self, remote, kin::bench::scaled(5000000, 100)), "msgs/s");
    if (enabled("kin.actor.process.rtt"))
      kin::bench::emit("kin.actor.process.rtt", rtt(self, remote, kin::bench::scaled(50000, 100)), "us");
    caf::anon_send_exit(remote, caf::exit_reason::user_shutdown);
  }
}
