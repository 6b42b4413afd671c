// The default of `make run`: N producer processes and M consumer processes share one
// kin::Queue; each consumer sums what it gets and reports back; the parent checks that
// every message arrived exactly once and prints messages per second.
//
//   producer_consumer [producers=2] [consumers=2] [messages=1000000]
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

struct Msg {
  std::int64_t seq;
  std::int64_t payload;
};

void producer(kin::Queue<Msg> q, std::int64_t from, std::int64_t count) {
  for (std::int64_t i = from; i < from + count; ++i) q.put(Msg{i, i * 2});
}

void consumer(kin::Queue<Msg> q, kin::Queue<std::int64_t> sums) {
  std::int64_t sum = 0;
  for (;;) {
    Msg m = q.get();
    if (m.seq < 0) break;  // the stop sentinel
    sum += m.payload;
  }
  sums.put(sum);
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  const int producers = argc > 1 ? std::atoi(argv[1]) : 2;
  const int consumers = argc > 2 ? std::atoi(argv[2]) : 2;
  const std::int64_t messages = argc > 3 ? std::atoll(argv[3]) : 1000000;
  if (producers < 1 || consumers < 1 || messages < producers) {
    std::fprintf(stderr, "usage: %s [producers>=1] [consumers>=1] [messages>=producers]\n", argv[0]);
    return 2;
  }
  kin::Queue<Msg> q{0, 4 << 20};
  kin::Queue<std::int64_t> sums;
  std::printf("%d producers, %d consumers, %lld messages of %zu bytes through one kin::Queue\n", producers,
              consumers, static_cast<long long>(messages), sizeof(Msg));
  std::fflush(stdout);

  auto t0 = std::chrono::steady_clock::now();
  std::vector<kin::Process> ps;
  const std::int64_t share = messages / producers;
  for (int p = 0; p < producers; ++p) {
    std::int64_t from = p * share;
    std::int64_t count = p == producers - 1 ? messages - from : share;
    ps.emplace_back(kin::ProcessOptions{.name = "producer-" + std::to_string(p)}, producer, q, from, count);
  }
  for (int c = 0; c < consumers; ++c)
    ps.emplace_back(kin::ProcessOptions{.name = "consumer-" + std::to_string(c)}, consumer, q, sums);
  for (auto& p : ps) p.start();
  for (int p = 0; p < producers; ++p) ps[static_cast<std::size_t>(p)].join();
  for (int c = 0; c < consumers; ++c) q.put(Msg{-1, 0});
  std::int64_t total = 0;
  for (int c = 0; c < consumers; ++c) total += sums.get();
  for (auto& p : ps) p.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const std::int64_t expected = messages * (messages - 1);  // sum of 2*i for i < messages
  std::printf("received sum %lld (%s), %.3f s, %.0f messages/s\n", static_cast<long long>(total),
              total == expected ? "every message exactly once" : "MISMATCH", secs, static_cast<double>(messages) / secs);
  return total == expected ? 0 : 1;
}
