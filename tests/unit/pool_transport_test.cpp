// kin::Pool's shared-memory ring transport under its faults: a worker SIGKILLed in the middle
// of a deep batch (no task lost, none run twice), a SIGSTOPped worker (the others go on, it
// resumes), full rings (back-pressure both ways, nothing lost), payloads too big for a ring
// record (they travel on the socket in their place in the order, under fork and spawn), a
// worker killed while it writes a big reply, and maxtasksperchild's hand-over under a stream.
#include <kin/pool.hpp>
#include <kin/process_pool_executor.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int kTasks = 20000;

// One counter per task in memory the fork workers share with the test: how often it ran.
std::atomic<int>* g_runs = nullptr;

int count_run(int i) {
  g_runs[i].fetch_add(1, std::memory_order_relaxed);
  const auto until = std::chrono::steady_clock::now() + 5us;  // short: the deep window is used
  while (std::chrono::steady_clock::now() < until) {
  }
  return i;
}
int square(int x) { return x * x; }
int my_pid(int) { return static_cast<int>(::getpid()); }
std::string echo(std::string s) { return s; }
std::string reversed(std::string s) { return {s.rbegin(), s.rend()}; }
std::size_t length(std::string s) { return s.size(); }
std::string big_reply_then_die(int n, int after_ms) {
  std::thread([after_ms] {
    std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
    ::kill(::getpid(), SIGKILL);
  }).detach();
  return std::string(static_cast<std::size_t>(n), 'z');
}

struct SharedCounters {
  SharedCounters() {
    void* p = ::mmap(nullptr, sizeof(std::atomic<int>) * kTasks, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    g_runs = static_cast<std::atomic<int>*>(p);
  }
  ~SharedCounters() {
    ::munmap(g_runs, sizeof(std::atomic<int>) * kTasks);
    g_runs = nullptr;
  }
};

template <class Results>
std::size_t ready_count(const Results& rs) {
  std::size_t n = 0;
  for (auto& r : rs) n += r.ready() ? 1 : 0;
  return n;
}

TEST(PoolTransport, WorkerKilledMidBatchLosesNoTaskAndRunsNoneTwice) {
  SharedCounters counters;
  kin::Pool pool{2};
  pool.map(square, std::vector<int>(64, 1), 1);  // the workers' tasks are known to be short: deep windows
  std::vector<kin::AsyncResult<int>> rs;
  rs.reserve(kTasks);
  int kills = 0;
  for (int i = 0; i < kTasks; ++i) {
    rs.push_back(pool.apply_async(count_run, i));
    if (i % 4000 == 2000) {  // mid-stream: each worker holds a batch of sent-ahead tasks
      auto pids = pool.worker_pids();
      ASSERT_FALSE(pids.empty());
      ::kill(pids[static_cast<std::size_t>(kills) % pids.size()], SIGKILL);
      ++kills;
    }
  }
  int ok = 0, lost = 0;
  for (int i = 0; i < kTasks; ++i) {
    try {
      EXPECT_EQ(rs[static_cast<std::size_t>(i)].get(30s), i);
      EXPECT_EQ(g_runs[i].load(), 1) << "task " << i << " ran " << g_runs[i].load() << " times";
      ++ok;
    } catch (const kin::WorkerLost& e) {
      EXPECT_EQ(e.status().signal(), SIGKILL);
      EXPECT_LE(g_runs[i].load(), 1) << "task " << i;
      ++lost;
    }
  }
  EXPECT_EQ(ok + lost, kTasks);
  EXPECT_LE(lost, kills);  // only a task that was running when its worker died fails
  EXPECT_EQ(pool.apply(square, 5), 25);
}

TEST(PoolTransport, SigstoppedWorkerDoesNotStallTheOthers) {
  kin::Pool pool{2};
  pool.map(square, std::vector<int>(64, 1), 1);
  auto pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 2u);
  ASSERT_EQ(::kill(pids[0], SIGSTOP), 0);
  constexpr int n = 3000;
  std::vector<kin::AsyncResult<int>> rs;
  for (int i = 0; i < n; ++i) rs.push_back(pool.apply_async(square, i));
  // Everything not sent to the stopped worker completes; what it holds waits for it.
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (ready_count(rs) < static_cast<std::size_t>(n) - 512 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  EXPECT_GE(ready_count(rs), static_cast<std::size_t>(n) - 512);
  EXPECT_LT(ready_count(rs), static_cast<std::size_t>(n));
  ASSERT_EQ(::kill(pids[0], SIGCONT), 0);
  for (int i = 0; i < n; ++i) EXPECT_EQ(rs[static_cast<std::size_t>(i)].get(20s), i * i);
  EXPECT_EQ(pool.worker_pids(), pids);  // stopped is not dead: nobody was replaced
}

TEST(PoolTransport, FullRingsApplyBackPressureAndLoseNothing) {
  kin::Pool pool{2};
  // 9 KB arguments and results: a handful fill a ring, in both directions.
  const std::string blob(9000, 'b');
  std::atomic<bool> slowed{false};
  std::vector<kin::AsyncResult<std::string>> rs;
  for (int i = 0; i < 400; ++i) {
    std::string s = blob;
    s[0] = static_cast<char>('a' + i % 26);
    if (i == 0) {
      // The first completion blocks the pool thread a while: the workers fill their reply rings.
      rs.push_back(pool.apply_async(echo, s, kin::callbacks{[&](std::string&) {
                                      slowed = true;
                                      std::this_thread::sleep_for(300ms);
                                    }}));
    } else {
      rs.push_back(pool.apply_async(echo, s));
    }
  }
  for (int i = 0; i < 400; ++i) {
    const std::string got = rs[static_cast<std::size_t>(i)].get(30s);
    ASSERT_EQ(got.size(), blob.size());
    EXPECT_EQ(got[0], static_cast<char>('a' + i % 26));
  }
  EXPECT_TRUE(slowed);
}

class PoolBigPayloads : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(PoolBigPayloads, TooBigForARecordTravelInOrder) {
  kin::Pool pool{kin::PoolOptions{.processes = 2, .start_method = GetParam()}};
  std::string big(3 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  std::vector<kin::AsyncResult<std::string>> bigs;
  std::vector<kin::AsyncResult<int>> smalls;
  for (int i = 0; i < 12; ++i) {
    smalls.push_back(pool.apply_async(square, i));
    bigs.push_back(pool.apply_async(reversed, big));
  }
  const std::string want(big.rbegin(), big.rend());
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(smalls[static_cast<std::size_t>(i)].get(30s), i * i);
    EXPECT_TRUE(bigs[static_cast<std::size_t>(i)].get(30s) == want) << "big result " << i;
  }
  EXPECT_EQ(pool.apply(length, big), big.size());        // a big argument, a small result
  EXPECT_EQ(pool.map(square, std::vector<int>{1, 2, 3}), (std::vector<int>{1, 4, 9}));
}

INSTANTIATE_TEST_SUITE_P(StartMethods, PoolBigPayloads,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn),
                         [](const auto& p) { return std::string(kin::to_string(p.param)); });

TEST(PoolTransport, WorkerKilledWhileWritingABigReply) {
  kin::Pool pool{1};
  // The kill lands before, during or after the 64 MB write, by the delay: any of them ends in
  // a whole result or WorkerLost, never a torn one or a hang.
  for (int after_ms : {1, 15, 30, 60, 120}) {
    auto r = pool.apply_async(big_reply_then_die, 64 << 20, after_ms);
    try {
      EXPECT_EQ(r.get(60s).size(), std::size_t{64} << 20);  // it won the race: whole and right
    } catch (const kin::WorkerLost& e) {
      EXPECT_EQ(e.status().signal(), SIGKILL);
    }
    EXPECT_EQ(pool.apply(square, 6), 36);  // a new worker serves
  }
}

TEST(PoolTransport, MaxTasksPerChildHandsOverUnderAStream) {
  kin::Pool pool{kin::PoolOptions{.processes = 2, .maxtasksperchild = 50}};
  std::vector<kin::AsyncResult<int>> rs;
  for (int i = 0; i < 2000; ++i) rs.push_back(pool.apply_async(my_pid, i));
  std::map<int, int> ran;  // pid -> tasks
  for (auto& r : rs) ++ran[r.get(30s)];
  int full = 0;
  for (auto& [pid, k] : ran) {
    EXPECT_LE(k, 50) << pid;
    full += k == 50 ? 1 : 0;
  }
  EXPECT_GE(full, 38);  // all but the last two (which may share the tail) ran their 50
  EXPECT_LE(ran.size(), 41u);
  EXPECT_EQ(pool.worker_pids().size(), 2u);
}

TEST(PoolTransport, ExecutorStreamSurvivesAKill) {
  SharedCounters counters;
  kin::ProcessPoolExecutor ex{2};
  std::vector<kin::Future<int>> fs;
  for (int i = 0; i < 5000; ++i) {
    fs.push_back(ex.submit(count_run, i));
    if (i == 2500) ::kill(ex.worker_pids().at(1), SIGKILL);
  }
  int lost = 0;
  for (int i = 0; i < 5000; ++i) {
    try {
      EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(30s), i);
      EXPECT_EQ(g_runs[i].load(), 1);
    } catch (const kin::WorkerLost&) {
      ++lost;
    }
  }
  EXPECT_LE(lost, 1);
}

}  // namespace
