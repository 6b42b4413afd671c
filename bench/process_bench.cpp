// Process start+join latency per start method, the resident memory of an idle child, and how
// soon the runtime reaps a child that exits while the program makes no kin call.
//   metric=kin.spawn_join.{fork,forkserver,spawn} (µs, median)   metric=kin.child_rss (KiB)
//   metric=kin.reap.latency (µs, median; goal <= 5 ms): from the child's last instant (it
//   writes the monotonic clock, then returns) until its /proc entry is gone, i.e. it has been
//   reaped; the parent only reads a pipe and looks at /proc meanwhile.
// Peers (bench/peers.tsv): Python's Process start+join per method; fork/_exit/waitpid and
// fork/exec/waitpid floors from ../shared/bench-peers/limits.c.
#include "bench_util.hpp"

#include <kin/kin.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <time.h>
#include <unistd.h>

#include <vector>

namespace {

void noop() {}

void idle(kin::Event ready) {
  ready.set();
  ::pause();
}

void bench_start_join(kin::StartMethod m, long runs) {
  const std::string name = std::string("kin.spawn_join.") + kin::to_string(m);
  if (!kin::bench::enabled(name)) return;
  kin::Context ctx{m};
  {  // warm-up: the first forkserver start launches the server
    auto p = ctx.process(noop);
    p.start();
    p.join();
  }
  std::vector<double> us;
  for (long i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto p = ctx.process(noop);
    p.start();
    p.join();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  kin::bench::emit(name, kin::bench::median(us), "us");
}

long rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = -1;
  while (f >> key) {
    if (key == "VmRSS:") {
      f >> value;
      break;
    }
    std::getline(f, key);
  }
  return value;
}

void bench_child_rss() {
  if (!kin::bench::enabled("kin.child_rss")) return;
  kin::Event ready;
  kin::Process p{kin::ProcessOptions{.start_method = kin::StartMethod::spawn}, idle, ready};
  p.start();
  if (ready.wait(std::chrono::seconds(10))) kin::bench::emit("kin.child_rss", static_cast<double>(rss_kib(p.pid())), "KiB");
  p.kill();
  p.join();
}

void bench_reap_latency(long runs) {
  if (!kin::bench::enabled("kin.reap.latency")) return;
  std::vector<double> us;
  for (long i = 0; i < runs; ++i) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    kin::Process p{[w = fds[1]] {
      timespec ts{};
      ::clock_gettime(CLOCK_MONOTONIC, &ts);
      [[maybe_unused]] auto n = ::write(w, &ts, sizeof ts);
    }};
    p.start();
    ::close(fds[1]);
    const std::string proc = "/proc/" + std::to_string(p.pid());
    timespec died{};
    const bool got = ::read(fds[0], &died, sizeof died) == static_cast<ssize_t>(sizeof died);
    ::close(fds[0]);
    timespec now{};
    for (;;) {  // no kin call: only the runtime thread can reap it
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      if (::access(proc.c_str(), F_OK) != 0) break;
      if (now.tv_sec - died.tv_sec > 10) break;  // never reaped: reported as 10 s
      ::usleep(50);
    }
    if (got)
      us.push_back(static_cast<double>(now.tv_sec - died.tv_sec) * 1e6 +
                   static_cast<double>(now.tv_nsec - died.tv_nsec) / 1e3);
    p.join();
  }
  kin::bench::emit("kin.reap.latency", kin::bench::median(us), "us");
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  bench_start_join(kin::StartMethod::fork, kin::bench::scaled(200, 5));
  bench_start_join(kin::StartMethod::forkserver, kin::bench::scaled(200, 5));
  bench_start_join(kin::StartMethod::spawn, kin::bench::scaled(100, 5));
  bench_child_rss();
  bench_reap_latency(kin::bench::scaled(100, 5));
}
