#include <kin/wait.hpp>  // first: the header is self-contained

#include <kin/pipe.hpp>

#include <gtest/gtest.h>

#include <thread>

using namespace std::chrono_literals;

TEST(Wait, TimesOutWithNothingReady) {
  auto [a, b] = kin::Pipe<int>();
  kin::Queue<int> q;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(kin::wait({b, q}, 50ms).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
}

TEST(Wait, ConnectionsQueuesAndSentinels) {
  auto [a, b] = kin::Pipe<int>();
  kin::Queue<int> q;
  kin::Process p{[] { return 3; }};
  std::thread t([&q] {
    std::this_thread::sleep_for(20ms);
    q.put(1);
  });
  EXPECT_EQ(kin::wait({b, q}, 10s), std::vector<std::size_t>{1});
  t.join();
  (void)q.get();
  a.send(5);
  a.send(6);
  EXPECT_EQ(kin::wait({q, b}, 10s), std::vector<std::size_t>{1});
  EXPECT_EQ(b.recv(), 5);  // the second message is now buffered: still ready
  EXPECT_EQ(kin::wait({q, b}, 0ms), std::vector<std::size_t>{1});
  EXPECT_EQ(b.recv(), 6);
  p.start();
  EXPECT_EQ(kin::wait({b, p}, 10s), std::vector<std::size_t>{1});
  EXPECT_TRUE(p.join(10s));
  q.close();
  EXPECT_EQ(kin::wait({b, q}, 10s), std::vector<std::size_t>{1});  // closed counts as ready
}
