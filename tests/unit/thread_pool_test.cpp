// kin::ThreadPool (multiprocessing.pool.ThreadPool): every call with its errors and timeouts,
// callbacks that throw, terminate during a map, an endless imap input with a bounded window,
// close/join/terminate, initializer and maxtasksperchild.
#include <kin/thread.hpp>
#include <kin/thread_pool.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct MyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int square(int x) { return x * x; }

TEST(ThreadPool, ApplyAndApplyAsync) {
  kin::ThreadPool pool{2};
  EXPECT_EQ(pool.processes(), 2u);
  EXPECT_EQ(pool.apply(square, 7), 49);
  auto r = pool.apply_async([](int a, std::string b) { return b + std::to_string(a); }, 3, std::string("n"));
  EXPECT_EQ(r.get(5s), "n3");
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
  pool.apply([] {});  // void
}

TEST(ThreadPool, TaskExceptionArrivesAsTheOriginalType) {
  kin::ThreadPool pool{2};
  EXPECT_THROW(pool.apply([]() -> int { throw MyError("in task"); }), MyError);
  auto r = pool.apply_async([]() -> int { throw MyError("async"); });
  r.wait();
  EXPECT_FALSE(r.successful());
  try {
    (void)r.get();
    FAIL();
  } catch (const MyError& e) {
    EXPECT_STREQ(e.what(), "async");
  }
}

TEST(ThreadPool, GetTimeoutOnASlowTask) {
  kin::ThreadPool pool{1};
  std::atomic<bool> release{false};
  auto r = pool.apply_async([&] {
    while (!release) std::this_thread::sleep_for(1ms);
    return 1;
  });
  EXPECT_THROW((void)r.get(20ms), kin::TimeoutError);
  EXPECT_FALSE(r.wait(1ms));
  EXPECT_THROW((void)r.successful(), kin::ValueError);
  release = true;
  EXPECT_EQ(r.get(5s), 1);
}

TEST(ThreadPool, ApplyAsyncCallbacksRunBeforeGetOnAWorker) {
  kin::ThreadPool pool{2};
  std::atomic<int> ok{0};
  std::thread::id cb_thread;
  auto r = pool.apply_async(square, 5, kin::callbacks{[&](int v) {
                              cb_thread = std::this_thread::get_id();
                              ok = v;
                            }});
  EXPECT_EQ(r.get(5s), 25);
  EXPECT_EQ(ok.load(), 25);
  EXPECT_NE(cb_thread, std::this_thread::get_id());
  std::string err;
  auto e = pool.apply_async([]() -> int { throw MyError("bad"); },
                            kin::callbacks{[](int) { FAIL(); }, [&](const std::exception& x) { err = x.what(); }});
  EXPECT_THROW((void)e.get(5s), MyError);
  EXPECT_EQ(err, "bad");
  auto only_err = pool.apply_async(square, 2, kin::callbacks{.on_error = [](std::exception_ptr) { FAIL(); }});
  EXPECT_EQ(only_err.get(5s), 4);
}

TEST(ThreadPool, ThrowingCallbackDoesNotBreakThePool) {
  kin::ThreadPool pool{1};
  testing::internal::CaptureStderr();
  auto r = pool.apply_async(square, 3, kin::callbacks{[](int) { throw MyError("callback boom"); }});
  EXPECT_EQ(r.get(5s), 9);  // the result stands
  auto m = pool.map_async(square, std::vector<int>{1, 2}, kin::callbacks{[](const std::vector<int>&) { throw 1; }});
  EXPECT_EQ(m.get(5s), (std::vector<int>{1, 4}));
  EXPECT_EQ(pool.apply(square, 4), 16);  // the worker survived
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("callback boom"), std::string::npos) << err;
}

TEST(ThreadPool, MapInOrderWithAnyChunksize) {
  kin::ThreadPool pool{3};
  std::vector<int> in(1000);
  for (int i = 0; i < 1000; ++i) in[static_cast<std::size_t>(i)] = i;
  for (std::size_t cs : {0u, 1u, 7u, 1000u, 5000u}) {
    auto out = pool.map(square, in, cs);
    ASSERT_EQ(out.size(), in.size());
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], i * i) << "chunksize " << cs;
  }
  EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
  auto lazy = pool.map(square, std::views::iota(0, 10) | std::views::filter([](int x) { return x % 2 == 0; }));
  EXPECT_EQ(lazy, (std::vector<int>{0, 4, 16, 36, 64}));
}

TEST(ThreadPool, MapDefaultChunksizeIsPythons) {
  EXPECT_EQ(kin::detail::default_chunksize(100, 2), 13u);  // ceil(100 / 8)
  EXPECT_EQ(kin::detail::default_chunksize(8, 2), 1u);
  EXPECT_EQ(kin::detail::default_chunksize(0, 2), 1u);
}

TEST(ThreadPool, MapResultTypesBoolVoidAndNoDefaultConstructor) {
  kin::ThreadPool pool{2};
  auto even = pool.map([](int x) { return x % 2 == 0; }, std::views::iota(0, 100), 3);
  ASSERT_EQ(even.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(even[static_cast<std::size_t>(i)], i % 2 == 0);
  std::atomic<int> n{0};
  pool.map([&](int) { n.fetch_add(1); }, std::views::iota(0, 50));
  EXPECT_EQ(n.load(), 50);
  struct NoDefault {
    explicit NoDefault(int v) : v(v) {}
    int v;
  };
  auto nd = pool.map([](int x) { return NoDefault{x}; }, std::vector<int>{4, 5});
  EXPECT_EQ(nd[1].v, 5);
}

TEST(ThreadPool, MapRaisesTheFirstExceptionOnceAllChunksAreDone) {
  kin::ThreadPool pool{2};
  std::atomic<int> ran{0};
  auto r = pool.map_async(
      [&](int x) {
        ran.fetch_add(1);
        if (x == 3) throw MyError("three");
        return x;
      },
      std::views::iota(0, 20), 1);
  EXPECT_THROW((void)r.get(5s), MyError);
  EXPECT_EQ(ran.load(), 20);  // ready only once every chunk finished, as Python
  EXPECT_FALSE(r.successful());
}

TEST(ThreadPool, MapAsyncCallbacks) {
  kin::ThreadPool pool{2};
  std::vector<int> seen;
  auto r = pool.map_async(square, std::vector<int>{1, 2, 3}, 0, kin::callbacks{[&](const std::vector<int>& v) { seen = v; }});
  EXPECT_EQ(r.get(5s), (std::vector<int>{1, 4, 9}));
  EXPECT_EQ(seen, (std::vector<int>{1, 4, 9}));
  std::string err;
  auto e = pool.map_async([](int) -> int { throw MyError("m"); }, std::vector<int>{1},
                          kin::callbacks{.on_error = [&](const std::exception& x) { err = x.what(); }});
  EXPECT_THROW((void)e.get(5s), MyError);
  EXPECT_EQ(err, "m");
}

TEST(ThreadPool, StarmapAndStarmapAsync) {
  kin::ThreadPool pool{2};
  std::vector<std::tuple<int, int>> args{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.starmap([](int a, int b) { return a * b; }, args), (std::vector<int>{2, 12, 30}));
  std::vector<std::pair<std::string, int>> ps{{"a", 1}, {"b", 2}};
  auto r = pool.starmap_async([](const std::string& s, int n) { return s + std::to_string(n); }, ps, 1);
  EXPECT_EQ(r.get(5s), (std::vector<std::string>{"a1", "b2"}));
  int total = 0;
  auto c = pool.starmap_async([](int a, int b) { return a + b; }, args, kin::callbacks{[&](const std::vector<int>& v) {
                                for (int x : v) total += x;
                              }});
  c.get(5s);
  EXPECT_EQ(total, 21);
}

TEST(ThreadPool, ImapKeepsOrderImapUnorderedGetsEverything) {
  kin::ThreadPool pool{3};
  std::vector<int> out;
  for (int v : pool.imap(
           [](int x) {
             std::this_thread::sleep_for(std::chrono::microseconds((10 - x % 10) * 50));
             return x;
           },
           std::views::iota(0, 100), 3))
    out.push_back(v);
  ASSERT_EQ(out.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i);
  std::multiset<int> un;
  for (int v : pool.imap_unordered(square, std::views::iota(0, 100), 4)) un.insert(v);
  ASSERT_EQ(un.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(un.count(i * i), 1u);
  for (int v : pool.imap(square, std::vector<int>{})) ADD_FAILURE() << v;
}

TEST(ThreadPool, ImapOverAnEndlessInputKeepsABoundedWindow) {
  kin::ThreadPool pool{2};
  std::atomic<long> pulled{0};
  auto endless = std::views::iota(0L) | std::views::transform([&](long x) {
                   pulled.fetch_add(1);
                   return x;
                 });
  const std::size_t chunksize = 5;
  const long bound = static_cast<long>((pool.imap_window() + 1) * chunksize);
  long consumed = 0;
  for (long v : pool.imap([](long x) { return x * 2; }, endless, chunksize)) {
    EXPECT_EQ(v, consumed * 2);
    ++consumed;
    EXPECT_LE(pulled.load() - consumed, bound);
    if (consumed == 5000) break;
  }
  EXPECT_EQ(consumed, 5000);
  // Same for imap_unordered.
  pulled = 0;
  consumed = 0;
  for (long v : pool.imap_unordered([](long x) { return x; }, endless, chunksize)) {
    (void)v;
    ++consumed;
    EXPECT_LE(pulled.load() - consumed, bound);
    if (consumed == 2000) break;
  }
}

TEST(ThreadPool, ImapExceptionIsRaisedInPlaceAndIterationGoesOn) {
  kin::ThreadPool pool{2};
  auto it = pool.imap(
      [](int x) {
        if (x == 2) throw MyError("two");
        return x;
      },
      std::views::iota(0, 5));
  EXPECT_EQ(it.next(), 0);
  EXPECT_EQ(it.next(), 1);
  EXPECT_THROW((void)it.next(), MyError);
  EXPECT_EQ(it.next(), 3);
  EXPECT_EQ(it.next(5s), 4);
  EXPECT_EQ(it.next(), std::nullopt);
  EXPECT_EQ(it.next(), std::nullopt);
}

TEST(ThreadPool, ImapNextTimeoutLosesNothing) {
  kin::ThreadPool pool{1};
  std::atomic<bool> release{false};
  auto slow = [&](int x) {
    while (!release) std::this_thread::sleep_for(1ms);
    return x;
  };
  auto ordered = pool.imap(slow, std::vector<int>{1, 2});
  EXPECT_THROW((void)ordered.next(10ms), kin::TimeoutError);
  auto unordered = pool.imap_unordered(slow, std::vector<int>{3});
  EXPECT_THROW((void)unordered.next(10ms), kin::TimeoutError);
  release = true;
  EXPECT_EQ(ordered.next(5s), 1);
  EXPECT_EQ(ordered.next(5s), 2);
  EXPECT_EQ(unordered.next(5s), 3);
  EXPECT_EQ(unordered.next(5s), std::nullopt);
}

TEST(ThreadPool, ImapInputThatThrows) {
  kin::ThreadPool pool{2};
  auto bad = std::views::iota(0, 10) | std::views::transform([](int x) {
               if (x == 4) throw MyError("input");
               return x;
             });
  auto it = pool.imap(square, bad, 2);
  std::vector<int> got;
  bool raised = false;
  for (int i = 0; i < 20; ++i) {
    try {
      auto v = it.next(5s);
      if (!v) break;
      got.push_back(*v);
    } catch (const MyError&) {
      raised = true;
    }
  }
  EXPECT_TRUE(raised);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9}));
}

TEST(ThreadPool, CloseRefusesNewWorkJoinWaitsForQueued) {
  kin::ThreadPool pool{2};
  std::atomic<int> done{0};
  std::vector<kin::AsyncResult<void>> rs;
  for (int i = 0; i < 20; ++i) rs.push_back(pool.apply_async([&] {
    std::this_thread::sleep_for(1ms);
    done.fetch_add(1);
  }));
  EXPECT_THROW(pool.join(), kin::ValueError);  // not closed yet: Python's ValueError
  pool.close();
  EXPECT_THROW((void)pool.apply_async(square, 1), kin::ValueError);
  EXPECT_THROW((void)pool.apply(square, 1), kin::ValueError);
  EXPECT_THROW((void)pool.map(square, std::vector<int>{1}), kin::ValueError);
  EXPECT_THROW((void)pool.imap(square, std::vector<int>{1}), kin::ValueError);
  pool.join();
  EXPECT_EQ(done.load(), 20);
  for (auto& r : rs) EXPECT_TRUE(r.ready());
  pool.join();  // twice is fine
}

TEST(ThreadPool, ImapAfterCloseStillCompletesAndJoinDrainsIt) {
  std::vector<int> data(50);
  for (int i = 0; i < 50; ++i) data[static_cast<std::size_t>(i)] = i;
  {
    kin::ThreadPool pool{2};
    auto it = pool.imap(square, data, 1);
    pool.close();  // Python: `it = p.imap(...); p.close(); for x in it: ...; p.join()`
    int n = 0;
    for (int v : it) {
      EXPECT_EQ(v, n * n);
      ++n;
    }
    EXPECT_EQ(n, 50);
    pool.join();
  }
  {
    kin::ThreadPool pool{2};
    auto it = pool.imap(square, data, 1);
    pool.close();
    pool.join();  // feeds the rest of the input, as Python's eager feeder would have
    int n = 0;
    for (int v : it) {
      EXPECT_EQ(v, n * n);
      ++n;
    }
    EXPECT_EQ(n, 50);
  }
}

TEST(ThreadPool, TerminateDuringMapFailsWhatDidNotRunAndNeverHangs) {
  kin::ThreadPool pool{2};
  std::atomic<int> ran{0};
  auto r = pool.map_async(
      [&](int x) {
        ran.fetch_add(1);
        std::this_thread::sleep_for(2ms);
        return x;
      },
      std::views::iota(0, 2000), 1);
  while (ran.load() < 4) std::this_thread::sleep_for(1ms);
  pool.terminate();
  EXPECT_TRUE(r.ready());  // terminate waited for the running chunks; the rest were dropped
  EXPECT_THROW((void)r.get(0ms), kin::CancelledError);
  EXPECT_LT(ran.load(), 2000);
  EXPECT_THROW((void)pool.apply(square, 1), kin::ValueError);
  pool.join();
}

TEST(ThreadPool, TerminateStopsAChunkBetweenItems) {
  kin::ThreadPool pool{1};
  std::atomic<int> ran{0};
  auto r = pool.map_async(
      [&](int x) {
        ran.fetch_add(1);
        std::this_thread::sleep_for(1ms);
        return x;
      },
      std::views::iota(0, 100000), 100000);  // one huge chunk
  while (ran.load() < 2) std::this_thread::sleep_for(1ms);
  pool.terminate();
  EXPECT_THROW((void)r.get(5s), kin::CancelledError);
  EXPECT_LT(ran.load(), 100000);
}

TEST(ThreadPool, TerminateDuringImapAndIteratorOutlivingThePool) {
  std::optional<kin::IMapIterator<long>> it;
  {
    kin::ThreadPool pool{2};
    it.emplace(pool.imap([](long x) { return x; }, std::views::iota(0L), 2));
    EXPECT_EQ(it->next(5s), 0);
  }  // destructor = terminate
  int cancelled = 0, values = 0;
  for (int i = 0; i < 10000; ++i) {
    try {
      if (!it->next(5s)) break;
      ++values;
    } catch (const kin::CancelledError&) {
      ++cancelled;
    }
  }
  EXPECT_LT(values + cancelled, 10000);  // it ended
}

TEST(ThreadPool, DestructorTerminatesQueuedTasks) {
  kin::AsyncResult<int> late;
  {
    kin::ThreadPool pool{1};
    (void)pool.apply_async([] {
      std::this_thread::sleep_for(20ms);
      return 0;
    });
    late = pool.apply_async(square, 2);
  }
  EXPECT_TRUE(late.ready());
  EXPECT_THROW((void)late.get(), kin::CancelledError);
}

TEST(ThreadPool, InitializerRunsInEveryWorker) {
  std::atomic<int> inits{0};
  kin::ThreadPool pool{kin::PoolOptions{.processes = 3, .initializer = [&] { inits.fetch_add(1); }}};
  EXPECT_EQ(pool.apply(square, 3), 9);
  pool.close();
  pool.join();
  EXPECT_EQ(inits.load(), 3);
}

TEST(ThreadPool, InitializerFailureBreaksThePoolWithAClearErrorAndNoRespawnLoop) {
  std::atomic<int> inits{0};
  testing::internal::CaptureStderr();
  {
    kin::ThreadPool pool{kin::PoolOptions{.processes = 2, .initializer = [&] {
                                            inits.fetch_add(1);
                                            throw MyError("no database");
                                          }}};
    auto r = pool.apply_async(square, 2);
    EXPECT_THROW((void)r.get(5s), MyError);
    EXPECT_THROW((void)pool.map(square, std::vector<int>{1, 2}), MyError);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(inits.load(), 2);  // once per worker, never again
  EXPECT_NE(err.find("no database"), std::string::npos) << err;
}

TEST(ThreadPool, MaxTasksPerChildReplacesThreads) {
  std::mutex m;
  std::set<std::thread::id> ids;
  kin::ThreadPool pool{kin::PoolOptions{.processes = 2, .maxtasksperchild = 3}};
  std::vector<kin::AsyncResult<void>> rs;
  for (int i = 0; i < 30; ++i) {
    rs.push_back(pool.apply_async([&] {
      std::lock_guard lk{m};
      ids.insert(std::this_thread::get_id());
    }));
  }
  for (auto& r : rs) r.get(5s);
  pool.close();
  pool.join();
  EXPECT_GE(ids.size(), 10u);  // 30 tasks, at most 3 per thread
}

TEST(ThreadPool, ZeroProcessesMeansCpuCount) {
  kin::ThreadPool pool;
  EXPECT_GE(pool.processes(), 1u);
}

TEST(ThreadPool, ManyTasksFromManyThreads) {
  kin::ThreadPool pool{3};
  std::vector<std::thread> ts;
  std::atomic<long> sum{0};
  for (int k = 0; k < 4; ++k) {
    ts.emplace_back([&] {
      std::vector<kin::AsyncResult<int>> rs;
      for (int i = 0; i < 500; ++i) rs.push_back(pool.apply_async(square, i % 10));
      for (auto& r : rs) sum.fetch_add(r.get(10s));
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(sum.load(), 4L * 50 * 285);
}

}  // namespace

namespace {

// Each task waits (bounded) until `n` tasks are running at once: true only if the pool runs
// them side by side, whatever the scheduling.
bool meet(std::shared_ptr<std::atomic<int>> arrived, int n) {
  arrived->fetch_add(1);
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (arrived->load() < n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

// Python's ThreadPool(8) with four apply_async runs the four at once (seed 000); a worker must
// not hold a batch of long tasks while the other threads sleep.
TEST(ThreadPool, LongTasksSubmittedTogetherRunSideBySide) {
  kin::ThreadPool pool{8};
  auto arrived = std::make_shared<std::atomic<int>>(0);
  std::vector<kin::AsyncResult<bool>> rs;
  for (int i = 0; i < 4; ++i) rs.push_back(pool.apply_async([arrived] { return meet(arrived, 4); }));
  for (auto& r : rs) EXPECT_TRUE(r.get(20s));
  // A burst of tiny tasks is still served in full (batched).
  auto sq = pool.map([](int x) { return x * x; }, std::views::iota(0, 10000));
  ASSERT_EQ(sq.size(), 10000u);
  EXPECT_EQ(sq[9999], 9999 * 9999);
}

// threading.current_thread().name in a ThreadPool worker: "Thread-N (worker)".
TEST(ThreadPool, WorkersAreNamedAsPythonNamesThem) {
  kin::ThreadPool pool{2};
  const std::string name = pool.apply([] { return kin::current_thread().name(); });
  EXPECT_EQ(name.rfind("Thread-", 0), 0u) << name;
  EXPECT_NE(name.find(" (worker)"), std::string::npos) << name;
  EXPECT_TRUE(pool.apply([] { return kin::current_thread().daemon(); }));
}
