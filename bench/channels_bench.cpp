// Channel figures, beside Python's and the OS floors (bench/peers.tsv):
//   kin.queue.1p1c, kin.queue.2p2c   16-byte messages through kin::Queue, separate processes (msgs/s)
//   kin.queue.bw                     1 MiB messages through kin::Queue (GB/s)
//   kin.pipe_rtt                     round trip of an int over a duplex Pipe, parent<->child (µs)
//   kin.pipe.bw                      1 MiB send_bytes over a duplex Pipe (GB/s)
//   kin.thread_queue.1p1c            kin::thread::Queue<int64> between two threads (items/s)
#include "bench_util.hpp"

#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
struct Msg16 {
  std::int64_t a, b;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Every side waits at a barrier with the parent, which starts the clock there: the figure is
// the queue's, without the processes' start (as the peers time theirs).
void produce(kin::Queue<Msg16> q, kin::Barrier go, long n) {
  go.wait();
  for (long i = 0; i < n; ++i) q.put(Msg16{i, i});
}
void consume(kin::Queue<Msg16> q, kin::Barrier go, long n) {
  go.wait();
  for (long i = 0; i < n; ++i) (void)q.get();
}

void bench_queue(const char* name, int producers, int consumers, long total) {
  if (!kin::bench::enabled(name)) return;
  kin::Queue<Msg16> q{0, 4 << 20};
  kin::Barrier go{static_cast<std::uint32_t>(producers + consumers + 1)};
  std::vector<kin::Process> ps;
  for (int p = 0; p < producers; ++p) ps.emplace_back(produce, q, go, total / producers);
  for (int c = 0; c < consumers; ++c) ps.emplace_back(consume, q, go, total / consumers);
  for (auto& p : ps) p.start();
  go.wait();
  auto t0 = Clock::now();
  for (auto& p : ps) p.join();
  kin::bench::emit(name, static_cast<double>(total) / seconds_since(t0), "msgs/s");
  if (producers == 1 && consumers == 1)
    std::printf("# %s: the gap to the SPSC floor is two atomic RMWs per item on each side (the sole owner's "
                "announcement and the publishing store), each draining the store buffer onto lines the other "
                "core just read (perf; docs/channels.md, Costs)\n",
                name);
}

void put_big(kin::Queue<std::string> q, kin::Barrier go, int n) {
  std::string s(1 << 20, 'x');
  go.wait();
  for (int i = 0; i < n; ++i) q.put(s);
}

void bench_queue_bw(int n) {
  if (!kin::bench::enabled("kin.queue.bw")) return;
  kin::Queue<std::string> q{0, 8 << 20};
  kin::Barrier go{2};
  kin::Process p{put_big, q, go, n};
  p.start();
  go.wait();
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) (void)q.get();
  p.join();
  kin::bench::emit("kin.queue.bw", static_cast<double>(n) * (1 << 20) / seconds_since(t0) / 1e9, "GB/s");
}

void echo(kin::Connection<int> c, int n) {
  for (int i = 0; i < n; ++i) c.send(c.recv());
}

void bench_pipe_rtt(int n) {
  if (!kin::bench::enabled("kin.pipe_rtt")) return;
  auto [a, b] = kin::Pipe<int>();
  kin::Process p{echo, b, n};
  p.start();
  std::vector<double> batches;
  const int batch = std::max(1, n / 5);
  for (int done = 0; done + batch <= n; done += batch) {
    auto t0 = Clock::now();
    for (int i = 0; i < batch; ++i) {
      a.send(i);
      (void)a.recv();
    }
    batches.push_back(seconds_since(t0) * 1e6 / batch);
  }
  for (int i = batch * static_cast<int>(batches.size()); i < n; ++i) {
    a.send(i);
    (void)a.recv();
  }
  p.join();
  kin::bench::emit("kin.pipe_rtt", kin::bench::median(batches), "us");
}

void sink_bytes(kin::Connection<int> c, int n) {
  for (int i = 0; i < n; ++i) (void)c.recv_bytes();
  c.send(0);
}

void bench_pipe_bw(int n) {
  if (!kin::bench::enabled("kin.pipe.bw")) return;
  auto [a, b] = kin::Pipe<int>();
  kin::Process p{sink_bytes, b, n};
  p.start();
  std::vector<std::byte> block(1 << 20, std::byte{1});
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) a.send_bytes(block);
  (void)a.recv();
  double secs = seconds_since(t0);
  p.join();
  kin::bench::emit("kin.pipe.bw", static_cast<double>(n) * (1 << 20) / secs / 1e9, "GB/s");
}

void bench_thread_queue(long n) {
  if (!kin::bench::enabled("kin.thread_queue.1p1c")) return;
  kin::thread::Queue<std::int64_t> q{1024};
  auto t0 = Clock::now();
  std::thread t([&] {
    for (long i = 0; i < n; ++i) q.put(i);
  });
  for (long i = 0; i < n; ++i) (void)q.get();
  t.join();
  kin::bench::emit("kin.thread_queue.1p1c", static_cast<double>(n) / seconds_since(t0), "items/s");
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  bench_queue("kin.queue.1p1c", 1, 1, kin::bench::scaled(2000000, 1000));
  bench_queue("kin.queue.2p2c", 2, 2, kin::bench::scaled(2000000, 1000) / 4 * 4);
  bench_queue_bw(static_cast<int>(kin::bench::scaled(2000, 20)));
  bench_pipe_rtt(static_cast<int>(kin::bench::scaled(20000, 100)));
  bench_pipe_bw(static_cast<int>(kin::bench::scaled(2000, 20)));
  bench_thread_queue(kin::bench::scaled(5000000, 1000));
}
