// kin::AsyncResult, kin::callbacks and the shared state behind them (detail::ResultState):
// every call with its errors and timeouts, completion from another thread, callbacks that throw.
#include <kin/async_result.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

template <class R>
std::shared_ptr<kin::detail::ResultState<R>> make_state() {
  return std::make_shared<kin::detail::ResultState<R>>();
}

TEST(AsyncResult, GetReturnsTheValueSetByAnotherThread) {
  auto st = make_state<int>();
  kin::AsyncResult<int> r{st};
  std::thread producer([st] {
    std::this_thread::sleep_for(10ms);
    st->set_value(42);
  });
  EXPECT_EQ(r.get(), 42);
  EXPECT_EQ(r.get(), 42);  // again: get() copies
  producer.join();
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
}

TEST(AsyncResult, GetWithTimeoutThrowsTimeoutErrorWhilePending) {
  auto st = make_state<int>();
  kin::AsyncResult<int> r{st};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(r.get(20ms), kin::TimeoutError);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_THROW(r.get(0ms), kin::TimeoutError);
  EXPECT_THROW(r.get(-5ms), kin::TimeoutError);  // negative: do not wait, as Python
  st->set_value(7);
  EXPECT_EQ(r.get(0ms), 7);
  EXPECT_EQ(r.get(1s), 7);
}

TEST(AsyncResult, WaitWithTimeoutSaysWhetherReady) {
  auto st = make_state<std::string>();
  kin::AsyncResult<std::string> r{st};
  EXPECT_FALSE(r.wait(10ms));
  EXPECT_FALSE(r.ready());
  std::thread producer([st] { st->set_value("done"); });
  r.wait();
  producer.join();
  EXPECT_TRUE(r.wait(0ms));
  EXPECT_EQ(r.get(), "done");
}

TEST(AsyncResult, SuccessfulBeforeReadyIsValueError) {
  auto st = make_state<int>();
  kin::AsyncResult<int> r{st};
  EXPECT_THROW((void)r.successful(), kin::ValueError);
  st->set_exception(std::make_exception_ptr(MyError("boom")));
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.successful());
}

TEST(AsyncResult, GetRethrowsTheOriginalExceptionType) {
  auto st = make_state<int>();
  kin::AsyncResult<int> r{st};
  st->set_exception(std::make_exception_ptr(MyError("bad input")));
  try {
    (void)r.get();
    FAIL() << "no exception";
  } catch (const MyError& e) {
    EXPECT_STREQ(e.what(), "bad input");
  }
  EXPECT_THROW((void)r.get(1s), MyError);  // every get rethrows
}

TEST(AsyncResult, VoidResults) {
  auto st = make_state<void>();
  kin::AsyncResult<void> r{st};
  EXPECT_THROW(r.get(1ms), kin::TimeoutError);
  st->set_value();
  r.get();
  r.get(0ms);
  EXPECT_TRUE(r.successful());
  auto bad = make_state<void>();
  bad->set_exception(std::make_exception_ptr(MyError("v")));
  EXPECT_THROW(kin::AsyncResult<void>{bad}.get(), MyError);
}

TEST(AsyncResult, MoveOnlyValueIsReturnedByReference) {
  auto st = make_state<std::unique_ptr<int>>();
  kin::AsyncResult<std::unique_ptr<int>> r{st};
  st->set_value(std::make_unique<int>(5));
  std::unique_ptr<int>& p = r.get();
  EXPECT_EQ(*p, 5);
}

TEST(AsyncResult, EmptyHandleIsValueError) {
  kin::AsyncResult<int> r;
  EXPECT_FALSE(r.valid());
  EXPECT_THROW((void)r.get(), kin::ValueError);
  EXPECT_THROW((void)r.ready(), kin::ValueError);
  EXPECT_THROW((void)r.wait(1ms), kin::ValueError);
  EXPECT_THROW((void)r.successful(), kin::ValueError);
}

TEST(ResultState, CompletesExactlyOnce) {
  auto st = make_state<int>();
  EXPECT_TRUE(st->try_set_value(1));
  EXPECT_FALSE(st->try_set_value(2));
  EXPECT_FALSE(st->try_set_exception(std::make_exception_ptr(MyError("late"))));
  EXPECT_THROW(st->set_value(3), kin::ValueError);
  EXPECT_THROW(st->set_exception(std::make_exception_ptr(MyError("late"))), kin::ValueError);
  EXPECT_EQ(st->value(), 1);
  EXPECT_FALSE(st->cancel());
  EXPECT_FALSE(st->settle_cancelled());
}

TEST(ResultState, RunningAndCancel) {
  auto st = make_state<int>();
  EXPECT_FALSE(st->running());
  EXPECT_TRUE(st->set_running());
  EXPECT_TRUE(st->running());
  EXPECT_THROW((void)st->set_running(), kin::ValueError);
  EXPECT_FALSE(st->cancel());  // running: too late
  st->set_value(1);
  EXPECT_FALSE(st->running());

  auto c = make_state<int>();
  EXPECT_TRUE(c->cancel());
  EXPECT_TRUE(c->cancel());  // already cancelled: still true
  EXPECT_TRUE(c->cancelled());
  EXPECT_FALSE(c->set_running());  // the task must not run
  EXPECT_FALSE(c->try_set_value(1));
  EXPECT_THROW((void)c->value(), kin::CancelledError);
  EXPECT_TRUE(c->wait(kin::detail::Deadline::after(0ms)));
}

TEST(ResultState, NullExceptionIsStillAnError) {
  auto st = make_state<int>();
  st->set_exception(nullptr);
  EXPECT_THROW((void)st->value(), kin::ValueError);
}

TEST(ResultState, ValueWhoseConstructorThrowsBecomesTheException) {
  struct Bomb {
    explicit Bomb(int) { throw MyError("ctor"); }
  };
  auto st = make_state<Bomb>();
  EXPECT_TRUE(st->try_set_value(1));
  EXPECT_TRUE(st->ready());
  EXPECT_THROW((void)st->value(), MyError);
}

TEST(ResultState, ManyWaitersOneCompleter) {
  auto st = make_state<int>();
  std::atomic<int> seen{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&] {
      if (st->wait(kin::detail::Deadline::after(10s)) && st->value() == 9) seen.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(5ms);
  st->set_value(9);
  for (auto& t : waiters) t.join();
  EXPECT_EQ(seen.load(), 8);
}

TEST(ResultState, RacingCompletersOnlyOneWins) {
  for (int round = 0; round < 200; ++round) {
    auto st = make_state<int>();
    std::atomic<int> wins{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i) {
      ts.emplace_back([&, i] {
        bool won = i == 0 ? st->try_set_value(i) : i == 1 ? st->cancel() : st->try_set_exception(std::make_exception_ptr(MyError("x")));
        if (won) wins.fetch_add(1);
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_TRUE(st->ready());
  }
}

TEST(Callbacks, OnOkRunsBeforeGetReturns) {
  auto st = make_state<int>();
  std::atomic<int> got{0};
  kin::detail::attach_callbacks(*st, kin::callbacks{[&](int v) {
                                  std::this_thread::sleep_for(5ms);  // get() must wait for it
                                  got = v;
                                }});
  std::thread producer([st] { st->set_value(11); });
  kin::AsyncResult<int> r{st};
  EXPECT_EQ(r.get(), 11);
  EXPECT_EQ(got.load(), 11);
  producer.join();
}

TEST(Callbacks, OnErrorTakesExceptionPtrOrStdException) {
  auto a = make_state<int>();
  std::string msg;
  kin::detail::attach_callbacks(*a, kin::callbacks{[](int) { FAIL(); }, [&](const std::exception& e) { msg = e.what(); }});
  a->set_exception(std::make_exception_ptr(MyError("e1")));
  EXPECT_EQ(msg, "e1");

  auto b = make_state<int>();
  std::exception_ptr seen;
  kin::detail::attach_callbacks(*b, kin::callbacks{.on_error = [&](std::exception_ptr e) { seen = e; }});
  b->set_exception(std::make_exception_ptr(MyError("e2")));
  ASSERT_TRUE(seen);
  EXPECT_THROW(std::rethrow_exception(seen), MyError);

  // Only on_error given: a value is fine.
  auto c = make_state<int>();
  kin::detail::attach_callbacks(*c, kin::callbacks{.on_error = [](std::exception_ptr) { FAIL(); }});
  c->set_value(1);
}

TEST(Callbacks, VoidResultOnOkTakesNothing) {
  auto st = make_state<void>();
  bool called = false;
  kin::detail::attach_callbacks(*st, kin::callbacks{[&] { called = true; }});
  st->set_value();
  EXPECT_TRUE(called);
}

TEST(Callbacks, CancelledResultRunsNoCallback) {
  auto st = make_state<int>();
  kin::detail::attach_callbacks(*st, kin::callbacks{[](int) { FAIL(); }, [](std::exception_ptr) { FAIL(); }});
  EXPECT_TRUE(st->cancel());
}

TEST(Callbacks, AttachedAfterCompletionRunAtOnce) {
  auto st = make_state<int>();
  st->set_value(3);
  int got = 0;
  kin::detail::attach_callbacks(*st, kin::callbacks{[&](int v) { got = v; }});
  EXPECT_EQ(got, 3);
}

TEST(Callbacks, ThrowingCallbackIsReportedAndTheOthersStillRun) {
  auto st = make_state<int>();
  int later = 0;
  st->on_settle([](kin::detail::ResultStateBase&) { throw MyError("callback failed"); }, "test");
  st->on_settle([&](kin::detail::ResultStateBase&) { later = 1; }, "test");
  st->add_done_callback([](kin::detail::ResultStateBase&) { throw 5; }, "done-test");
  st->add_done_callback([&](kin::detail::ResultStateBase&) { later += 10; });
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(st->set_value(1));  // the producer never sees a callback's exception
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(later, 11);
  EXPECT_NE(err.find("Exception in test callback:"), std::string::npos) << err;
  EXPECT_NE(err.find("MyError: callback failed"), std::string::npos) << err;
  EXPECT_NE(err.find("Exception in done-test callback:"), std::string::npos) << err;
  EXPECT_NE(err.find("int"), std::string::npos) << err;
  EXPECT_EQ(st->value(), 1);
}

TEST(Callbacks, ErrorCallbackOfNonStdExceptionIsReported) {
  auto st = make_state<int>();
  kin::detail::attach_callbacks(*st, kin::callbacks{.on_error = [](const std::exception&) { FAIL(); }});
  testing::internal::CaptureStderr();
  st->set_exception(std::make_exception_ptr(17));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("error_callback"), std::string::npos) << err;
}

TEST(Callbacks, IsCallbacksTrait) {
  auto cb = kin::callbacks{[](int) {}};
  static_assert(kin::detail::is_callbacks_v<decltype(cb)>);
  static_assert(kin::detail::is_callbacks_v<const decltype(cb)&>);
  static_assert(!kin::detail::is_callbacks_v<int>);
  SUCCEED();
}

TEST(Callbacks, CallbacksAddedConcurrentlyWithCompletionRunExactlyOnce) {
  for (int round = 0; round < 200; ++round) {
    auto st = make_state<int>();
    std::atomic<int> runs{0};
    std::thread adder([&] {
      for (int i = 0; i < 20; ++i) st->add_done_callback([&](kin::detail::ResultStateBase&) { runs.fetch_add(1); });
    });
    st->set_value(round);
    adder.join();
    EXPECT_EQ(runs.load(), 20);
  }
}

}  // namespace
