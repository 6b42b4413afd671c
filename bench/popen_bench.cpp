// Threads and subprocess figures (contract: bench/bench_util.hpp):
//   kin.popen.true             us per kin::Popen{{"/bin/true"}} + wait() (median)
//   kin.popen.fork_exec_floor  us per raw fork + execv("/bin/true") + waitpid, same run (the floor)
//   kin.popen.communicate.bw   MiB/s through `cat`: communicate() feeding and draining 16 MiB
//   kin.thread.start_join      us per kin::Thread start() + join() of an empty target (median)
#include "bench_util.hpp"

#include <kin/popen.hpp>
#include <kin/thread.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

template <class F>
double median_us(long n, F f) {
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    f();
    samples.push_back(us_since(t0));
  }
  return kin::bench::median(samples);
}

}  // namespace

int main() {
  using kin::bench::emit;
  using kin::bench::enabled;
  using kin::bench::scaled;

  if (enabled("kin.popen.true")) {
    emit("kin.popen.true", median_us(scaled(300, 5), [] { kin::Popen{{"/bin/true"}}.wait(); }), "us");
  }
  if (enabled("kin.popen.fork_exec_floor")) {
    emit("kin.popen.fork_exec_floor", median_us(scaled(300, 5), [] {
           pid_t pid = ::fork();
           if (pid == 0) {
             char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
             ::execv("/bin/true", argv);
             ::_exit(127);
           }
           int status = 0;
           ::waitpid(pid, &status, 0);
         }),
         "us");
  }
  if (enabled("kin.popen.communicate.bw")) {
    const std::size_t bytes = static_cast<std::size_t>(scaled(16L << 20, 1L << 16));
    std::string input(bytes, 'x');
    auto t0 = Clock::now();
    kin::Popen p{{"cat"}, {.stdin_ = kin::pipe, .stdout_ = kin::pipe}};
    auto res = p.communicate(input);
    double secs = us_since(t0) / 1e6;
    if (res.out.size() != bytes) return 1;
    emit("kin.popen.communicate.bw", static_cast<double>(bytes) / (1 << 20) / secs, "MiB/s");
  }
  if (enabled("kin.thread.start_join")) {
    emit("kin.thread.start_join", median_us(scaled(2000, 10), [] {
           kin::Thread t{[] {}};
           t.start();
           t.join();
         }),
         "us");
  }
}
