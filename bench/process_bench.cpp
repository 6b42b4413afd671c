// Process start+join latency per start method, and the resident memory of an idle child.
//   metric=kin.spawn_join.{fork,forkserver,spawn} (µs, median)   metric=kin.child_rss (KiB)
// Peers (bench/peers.tsv): Python's Process start+join per method; fork/_exit/waitpid and
// fork/exec/waitpid floors from ../shared/bench-peers/limits.c.
#include "bench_util.hpp"

#include <kin/kin.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <unistd.h>

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

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  bench_start_join(kin::StartMethod::fork, kin::bench::scaled(200, 5));
  bench_start_join(kin::StartMethod::forkserver, kin::bench::scaled(200, 5));
  bench_start_join(kin::StartMethod::spawn, kin::bench::scaled(100, 5));
  bench_child_rss();
}
