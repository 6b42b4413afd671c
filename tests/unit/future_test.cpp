// kin::Future, kin::as_completed and kin::wait(futures, ...): every call with its errors and
// timeouts, futures completed from other threads, callbacks that throw, cancel, wait modes.
#include <kin/future.hpp>
#include <kin/wait.hpp>  // the other kin::wait: both overload sets in one TU must not clash

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct MyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class R = int>
kin::Future<R> pending() {
  return kin::Future<R>{std::make_shared<kin::detail::ResultState<R>>()};
}

TEST(Future, ResultAndTimeout) {
  auto f = pending();
  EXPECT_FALSE(f.done());
  EXPECT_THROW((void)f.result(10ms), kin::TimeoutError);
  EXPECT_THROW((void)f.exception(10ms), kin::TimeoutError);
  std::thread t([st = f.state()] {
    std::this_thread::sleep_for(5ms);
    st->set_value(4);
  });
  EXPECT_EQ(f.result(), 4);
  t.join();
  EXPECT_EQ(f.result(0ms), 4);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_EQ(f.exception(0ms), nullptr);
}

TEST(Future, ExceptionIsReturnedAndRethrown) {
  auto f = pending();
  f.state()->set_exception(std::make_exception_ptr(MyError("bad")));
  auto e = f.exception();
  ASSERT_TRUE(e);
  EXPECT_THROW(std::rethrow_exception(e), MyError);
  EXPECT_THROW((void)f.result(), MyError);
  EXPECT_THROW((void)f.result(1s), MyError);
}

TEST(Future, CancelPendingRunningAndDone) {
  auto f = pending();
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW((void)f.result(), kin::CancelledError);
  EXPECT_THROW((void)f.exception(), kin::CancelledError);
  EXPECT_THROW((void)f.exception(1ms), kin::CancelledError);

  auto r = pending();
  ASSERT_TRUE(r.state()->set_running());
  EXPECT_TRUE(r.running());
  EXPECT_FALSE(r.cancel());
  EXPECT_FALSE(r.cancel(true));  // no stop handler: a running task cannot be stopped
  EXPECT_FALSE(r.cancelled());
  r.state()->set_value(1);
  EXPECT_FALSE(r.cancel());
  EXPECT_EQ(r.result(), 1);
}

TEST(Future, ForcedCancelCallsTheStopHandler) {
  auto f = pending();
  ASSERT_TRUE(f.state()->set_running());
  std::atomic<bool> stopped{false};
  f.state()->set_stop_handler([&, st = f.state().get()] {
    stopped = true;
    st->settle_cancelled();
  });
  EXPECT_FALSE(f.cancel());
  EXPECT_TRUE(f.cancel(true));
  EXPECT_TRUE(stopped.load());
  EXPECT_TRUE(f.cancelled());
  EXPECT_THROW((void)f.result(), kin::CancelledError);
}

TEST(Future, EmptyHandleIsValueError) {
  kin::Future<int> f;
  EXPECT_THROW((void)f.result(), kin::ValueError);
  EXPECT_THROW((void)f.done(), kin::ValueError);
  EXPECT_THROW((void)f.cancel(), kin::ValueError);
  EXPECT_THROW(f.add_done_callback([] {}), kin::ValueError);
  std::vector<kin::Future<int>> fs{f};
  EXPECT_THROW((void)kin::wait(fs, 1ms), kin::ValueError);
}

TEST(Future, VoidFuture) {
  auto f = pending<void>();
  EXPECT_THROW(f.result(1ms), kin::TimeoutError);
  f.state()->set_value();
  f.result();
  EXPECT_EQ(f.exception(), nullptr);
}

TEST(Future, DoneCallbackGetsTheFutureOnCompletionOrAtOnce) {
  auto f = pending();
  int got = 0;
  std::thread::id where;
  f.add_done_callback([&](kin::Future<int>& g) {
    got = g.result();
    where = std::this_thread::get_id();
  });
  std::thread t([st = f.state()] { st->set_value(8); });
  const auto producer_id = t.get_id();
  t.join();
  EXPECT_EQ(got, 8);
  EXPECT_EQ(where, producer_id);  // on the completing thread
  int at_once = 0;
  f.add_done_callback([&] { at_once = 1; });
  EXPECT_EQ(at_once, 1);
}

TEST(Future, DoneCallbackOfCancelledFuture) {
  auto f = pending();
  bool saw = false;
  f.add_done_callback([&](kin::Future<int>& g) { saw = g.cancelled(); });
  f.cancel();
  EXPECT_TRUE(saw);
}

TEST(Future, ThrowingDoneCallbackIsReported) {
  auto f = pending();
  int second = 0;
  f.add_done_callback([](kin::Future<int>&) { throw MyError("in callback"); });
  f.add_done_callback([&] { second = 1; });
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(f.state()->set_value(1));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(second, 1);
  EXPECT_NE(err.find("future done callback"), std::string::npos) << err;
  EXPECT_NE(err.find("in callback"), std::string::npos) << err;
}

TEST(AsCompleted, YieldsInCompletionOrderDoneOnesFirst) {
  std::vector<kin::Future<int>> fs{pending(), pending(), pending()};
  fs[1].state()->set_value(1);
  std::thread t([&] {
    std::this_thread::sleep_for(5ms);
    fs[2].state()->set_value(2);
    std::this_thread::sleep_for(5ms);
    fs[0].state()->set_value(0);
  });
  std::vector<int> order;
  for (auto& f : kin::as_completed(fs, 5s)) order.push_back(f.result());
  t.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 0}));
}

TEST(AsCompleted, TimeoutWithFuturesPending) {
  std::vector<kin::Future<int>> fs{pending(), pending()};
  fs[0].state()->set_value(5);
  auto ac = kin::as_completed(fs, 20ms);
  auto it = ac.begin();
  ASSERT_FALSE(it == ac.end());
  EXPECT_EQ(it->result(), 5);
  try {
    ++it;
    FAIL() << "no timeout";
  } catch (const kin::TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("1 of 2"), std::string::npos) << e.what();
  }
  // Nothing completed at all: begin() itself times out.
  std::vector<kin::Future<int>> none{pending()};
  auto ac2 = kin::as_completed(none, 1ms);
  EXPECT_THROW((void)ac2.begin(), kin::TimeoutError);
}

TEST(AsCompleted, DuplicatesOnceEmptyAndOtherRanges) {
  auto f = pending();
  f.state()->set_value(3);
  std::vector<kin::Future<int>> dup{f, f, f};
  int n = 0;
  for (auto& g : kin::as_completed(dup)) n += g.result();
  EXPECT_EQ(n, 3);
  std::vector<kin::Future<int>> empty;
  for (auto& g : kin::as_completed(empty, 1ms)) ADD_FAILURE() << g.result();
  std::list<kin::Future<int>> lst{f};
  for (auto& g : kin::as_completed(lst, std::nullopt)) EXPECT_EQ(g.result(), 3);
}

TEST(AsCompleted, AbandonedEarlyLeavesNoCallbackBehind) {
  auto slow = pending();
  auto quick = pending();
  quick.state()->set_value(1);
  std::vector<kin::Future<int>> fs{slow, quick};
  {
    auto ac = kin::as_completed(fs, 1s);
    auto it = ac.begin();
    EXPECT_EQ(it->result(), 1);
  }  // destroyed with `slow` pending: its callback is taken back
  int later = 0;
  slow.add_done_callback([&] { later = 1; });
  slow.state()->set_value(2);
  EXPECT_EQ(later, 1);
}

TEST(WaitFutures, AllCompleted) {
  std::vector<kin::Future<int>> fs{pending(), pending()};
  std::thread t([&] {
    fs[0].state()->set_value(0);
    std::this_thread::sleep_for(5ms);
    fs[1].state()->set_value(1);
  });
  auto [done, not_done] = kin::wait(fs);
  t.join();
  EXPECT_EQ(done.size(), 2u);
  EXPECT_TRUE(not_done.empty());
}

TEST(WaitFutures, FirstCompletedAndTimeout) {
  std::vector<kin::Future<int>> fs{pending(), pending(), pending()};
  auto [d0, nd0] = kin::wait(fs, 10ms, kin::FIRST_COMPLETED);
  EXPECT_TRUE(d0.empty());
  EXPECT_EQ(nd0.size(), 3u);
  std::thread t([&] {
    std::this_thread::sleep_for(5ms);
    fs[1].state()->set_value(1);
  });
  auto [done, not_done] = kin::wait(fs, 5s, kin::FIRST_COMPLETED);
  t.join();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], fs[1]);
  EXPECT_EQ(not_done.size(), 2u);
  auto [d2, nd2] = kin::wait(fs, 10ms, kin::ALL_COMPLETED);  // timeout: partial answer
  EXPECT_EQ(d2.size(), 1u);
  EXPECT_EQ(nd2.size(), 2u);
}

TEST(WaitFutures, FirstExceptionReturnsOnAFailureOrWhenAllDone) {
  std::vector<kin::Future<int>> fs{pending(), pending(), pending()};
  fs[0].state()->set_value(0);
  std::thread t([&] {
    std::this_thread::sleep_for(5ms);
    fs[2].state()->set_exception(std::make_exception_ptr(MyError("x")));
  });
  auto [done, not_done] = kin::wait(fs, 5s, kin::FIRST_EXCEPTION);
  t.join();
  EXPECT_EQ(done.size(), 2u);
  EXPECT_EQ(not_done.size(), 1u);
  // A cancelled future is not an exception for FIRST_EXCEPTION: it waits for the rest.
  std::vector<kin::Future<int>> gs{pending(), pending()};
  gs[0].cancel();
  auto [d1, nd1] = kin::wait(gs, 10ms, kin::FIRST_EXCEPTION);
  EXPECT_EQ(d1.size(), 1u);
  EXPECT_EQ(nd1.size(), 1u);
  gs[1].state()->set_value(1);
  auto [d2, nd2] = kin::wait(gs, kin::FIRST_EXCEPTION);  // all done, no exception
  EXPECT_EQ(d2.size(), 2u);
}

TEST(WaitFutures, EmptyDuplicatesInitializerListAndNullopt) {
  std::vector<kin::Future<int>> empty;
  auto [d, nd] = kin::wait(empty, 1s, kin::FIRST_COMPLETED);
  EXPECT_TRUE(d.empty() && nd.empty());
  auto f = pending();
  f.state()->set_value(1);
  auto [d2, nd2] = kin::wait({f, f}, 1s);
  EXPECT_EQ(d2.size(), 1u);
  auto [d3, nd3] = kin::wait({f});
  EXPECT_EQ(d3.size(), 1u);
  std::vector<kin::Future<int>> one{f};
  auto [d4, nd4] = kin::wait(one, std::nullopt, kin::FIRST_COMPLETED);
  EXPECT_EQ(d4.size(), 1u);
}

TEST(WaitFutures, RepeatedWaitsDoNotPileUpCallbacks) {
  auto f = pending();
  std::vector<kin::Future<int>> fs{f};
  for (int i = 0; i < 1000; ++i) (void)kin::wait(fs, 0ms, kin::FIRST_COMPLETED);
  // The callbacks of the 1000 waits were taken back: completing runs just this one.
  int runs = 0;
  f.add_done_callback([&] { ++runs; });
  f.state()->set_value(1);
  EXPECT_EQ(runs, 1);
}

TEST(WaitFutures, ConnectionWaitStillWorksBesideIt) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  auto ready = kin::wait({kin::Waitable{p[0]}}, 100ms);
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_EQ(ready.size(), 1u);
}

TEST(WaitFutures, ManyProducersManyFutures) {
  std::vector<kin::Future<int>> fs;
  for (int i = 0; i < 200; ++i) fs.push_back(pending());
  std::vector<std::thread> ts;
  for (int k = 0; k < 4; ++k) {
    ts.emplace_back([&, k] {
      for (int i = k; i < 200; i += 4) fs[static_cast<std::size_t>(i)].state()->set_value(i);
    });
  }
  long sum = 0;
  for (auto& f : kin::as_completed(fs, 10s)) sum += f.result();
  for (auto& t : ts) t.join();
  EXPECT_EQ(sum, 199 * 200 / 2);
}

}  // namespace
