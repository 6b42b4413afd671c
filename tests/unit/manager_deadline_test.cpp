// kin::Manager's per-call bound (ManagerOptions::call_timeout, Manager::connect's third
// argument) and TCP keepalive: a server that is alive but stopped (SIGSTOP) makes a call raise
// kin::TimeoutError instead of waiting forever — a plain request within call_timeout, a
// blocking one within its own timeout plus call_timeout, an untimed one through the ping it
// sends while it waits — and the next call after SIGCONT works on a new connection. Without a
// call_timeout nothing changes. Every server stopped here is continued in TearDown.
#include <kin/manager.hpp>

#include <kin/context.hpp>
#include <kin/errors.hpp>
#include <kin/pipe.hpp>
#include <kin/process.hpp>
#include <kin/runtime/socket_util.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"
#include "test_util.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// The manager's server (and the tests' children) fork beside the test's threads.
const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

using kin::testing::proc_state;

int serve_on(kin::Connection<kin::Address> ready, std::string key) {
  kin::Manager::serve(kin::Address{"127.0.0.1", 0}, key, [&](const kin::Address& a) {
    ready.send(a);
    ready.close();
  });
  return 0;
}

// In a child: stops the server itself, so the only bound it can meet is the one its proxy
// brought along (the parent's call_timeout).
int get_from_stopped(kin::DictProxy<std::string, int> d, pid_t server) {
  if (server <= 0) return 3;
  if (d.get("a") != 1) return 4;
  if (::kill(server, SIGSTOP) != 0) return 5;
  for (int i = 0; i < 500 && proc_state(server) != 'T'; ++i) std::this_thread::sleep_for(10ms);
  int rc = 1;
  try {
    (void)d.get("a");
  } catch (const kin::TimeoutError&) {
    rc = 0;
  } catch (...) {
    rc = 2;
  }
  ::kill(server, SIGCONT);
  return rc;
}

}  // namespace

class ManagerDeadline : public ::testing::Test {
 protected:
  // SIGSTOPs `pid` and waits (bounded) until the kernel reports it stopped, so no request can
  // slip through before it.
  void stop(pid_t pid) {
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGSTOP), 0);
    stopped_.push_back(pid);
    const auto until = Clock::now() + 5s;
    while (proc_state(pid) != 'T' && Clock::now() < until) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(proc_state(pid), 'T');
  }
  void cont(pid_t pid) {
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGCONT), 0);
    std::erase(stopped_, pid);
  }
  // The manager lives in the fixture, so TearDown continues its server before it is shut down
  // (never signalling a pid that could already be reaped and reused).
  kin::Manager& start(kin::ManagerOptions options = {}) { return manager_.emplace(std::move(options)); }
  // Starts Manager::serve on 127.0.0.1, port 0, in a child; returns the address it bound.
  kin::Address start_remote(const std::string& key) {
    auto [mine, theirs] = kin::Pipe<kin::Address>();
    remote_.emplace(serve_on, theirs, key);
    remote_->start();
    theirs.close();
    auto a = mine.recv(20s);
    if (!a) return {};
    return *a;
  }
  void TearDown() override {
    for (pid_t pid : stopped_)
      if (pid > 0) ::kill(pid, SIGCONT);  // whatever failed, nothing stays stopped
    manager_.reset();
    if (remote_ && remote_->pid() > 0) {
      if (!remote_->join(5s)) {
        remote_->kill();
        remote_->join();
      }
    }
  }

  std::vector<pid_t> stopped_;
  std::optional<kin::Manager> manager_;
  std::optional<kin::Process> remote_;
};

TEST_F(ManagerDeadline, DictGetOnStoppedServerIsTimeoutErrorThenWorksAfterSigcont) {
  auto& m = start({.call_timeout = 300ms});
  ASSERT_TRUE(m.pid().has_value());
  const pid_t pid = *m.pid();
  ASSERT_GT(pid, 0);
  auto d = m.dict<std::string, int>();
  d.set("a", 1);
  ASSERT_EQ(d.get("a"), 1);
  stop(pid);
  if (HasFatalFailure()) return;

  const auto t0 = Clock::now();
  try {
    (void)d.get("a");
    ADD_FAILURE() << "a get on a stopped server returned";
  } catch (const kin::TimeoutError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dict get"), std::string::npos) << what;
    EXPECT_NE(what.find("300 ms"), std::string::npos) << what;
  }
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 250ms);  // it did wait for the server
  EXPECT_LT(waited, 5s);     // and not for ever

  // The timed-out connection is gone: this call opens a new one, whose handshake the stopped
  // server cannot answer either — the same bound, not the 5 s connect timeout.
  const auto t1 = Clock::now();
  EXPECT_THROW(d.set("b", 2), kin::TimeoutError);
  EXPECT_LT(Clock::now() - t1, 5s);

  cont(pid);
  // The server kept its state (it was only stopped).
  EXPECT_EQ(d.get("a"), 1);
  d.set("c", 3);
  EXPECT_EQ(d.get("c"), 3);
  EXPECT_FALSE(d.contains("b"));  // never sent: its connection's handshake timed out first
}

TEST_F(ManagerDeadline, TimedQueueGetOnStoppedServerEndsWithinItsTimeoutPlusCallTimeout) {
  auto& m = start({.call_timeout = 300ms});
  ASSERT_TRUE(m.pid().has_value());
  const pid_t pid = *m.pid();
  auto q = m.Queue<int>();
  // Alive: the queue's own timeout, not the call's, decides (an empty queue: nullopt).
  EXPECT_FALSE(q.get(200ms).has_value());
  stop(pid);
  if (HasFatalFailure()) return;

  const auto t0 = Clock::now();
  try {
    (void)q.get(200ms);
    ADD_FAILURE() << "a get on a stopped server returned";
  } catch (const kin::TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("Queue get"), std::string::npos) << e.what();
  }
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 200ms + 300ms + 2s);  // its timeout + call_timeout, and slack for a busy CPU

  cont(pid);
  q.put(7);
  EXPECT_EQ(q.get(2s), std::optional<int>{7});
}

TEST_F(ManagerDeadline, UntimedBlockingCallsOnStoppedServerEndThroughThePing) {
  auto& m = start({.call_timeout = 300ms});
  ASSERT_TRUE(m.pid().has_value());
  const pid_t pid = *m.pid();
  auto q = m.Queue<int>();
  auto lock = m.Lock();
  auto e = m.Event();
  lock.acquire();
  std::optional<kin::TimeoutError> get_error, acquire_error, wait_error;
  // Three threads park on the server (three connections), then it is stopped.
  std::thread getter([&] {
    try {
      (void)q.get();
    } catch (const kin::TimeoutError& x) {
      get_error = x;
    }
  });
  std::thread acquirer([&] {
    try {
      lock.acquire();
    } catch (const kin::TimeoutError& x) {
      acquire_error = x;
    }
  });
  std::thread waiter([&] {
    try {
      e.wait();
    } catch (const kin::TimeoutError& x) {
      wait_error = x;
    }
  });
  std::this_thread::sleep_for(400ms);  // past one call_timeout: the pings are answered
  stop(pid);
  const auto t0 = Clock::now();
  getter.join();
  acquirer.join();
  waiter.join();
  const auto waited = Clock::now() - t0;
  if (HasFatalFailure()) return;
  EXPECT_LT(waited, 5s);
  ASSERT_TRUE(get_error.has_value());
  ASSERT_TRUE(acquire_error.has_value());
  ASSERT_TRUE(wait_error.has_value());
  EXPECT_NE(std::string(get_error->what()).find("Queue get"), std::string::npos) << get_error->what();
  EXPECT_NE(std::string(get_error->what()).find("ping"), std::string::npos) << get_error->what();

  cont(pid);
  // The get that gave up is never answered, even if the resumed server has not yet read its
  // close when an item comes: the item stays for a living client.
  q.put(5);
  EXPECT_EQ(q.get(2s), std::optional<int>{5});
  e.set();
  EXPECT_TRUE(e.wait(2s));
}

TEST_F(ManagerDeadline, BlockingCallsLongerThanCallTimeoutStillWaitOnALiveServer) {
  auto& m = start({.call_timeout = 200ms});
  auto q = m.Queue<int>();
  auto e = m.Event();
  std::thread producer([q, e]() mutable {
    std::this_thread::sleep_for(700ms);
    q.put(1);
    std::this_thread::sleep_for(700ms);
    e.set();
  });
  EXPECT_EQ(q.get(10s), std::optional<int>{1});  // waits past call_timeout: the pings answer
  e.wait();                                        // untimed, likewise
  producer.join();
  EXPECT_TRUE(e.is_set());
}

TEST_F(ManagerDeadline, WithoutCallTimeoutCallsWorkAsBefore) {
  auto& m = start();
  auto d = m.dict<std::string, int>();
  d.set("a", 1);
  d["a"] += 2;
  EXPECT_EQ(d.get("a"), 3);
  auto q = m.Queue<int>();
  EXPECT_FALSE(q.get(50ms).has_value());
  q.put(4);
  EXPECT_EQ(q.get(), 4);
}

TEST_F(ManagerDeadline, ANonPositiveCallTimeoutIsRefused) {
  EXPECT_THROW(kin::Manager(kin::ManagerOptions{.call_timeout = 0ms}), kin::ValueError);
  kin::Manager m;
  EXPECT_THROW((void)kin::Manager::connect(m.address(), m.authkey(), -1ms), kin::ValueError);
}

TEST_F(ManagerDeadline, ProxyPassedToAChildCarriesTheCallTimeout) {
  auto& m = start({.call_timeout = 300ms});
  ASSERT_TRUE(m.pid().has_value());
  const pid_t pid = *m.pid();
  ASSERT_GT(pid, 0);
  stopped_.push_back(pid);  // the child stops it; TearDown continues it whatever happens
  auto d = m.dict<std::string, int>();
  d.set("a", 1);
  // spawn: the proxy reaches the child encoded, as it would an unrelated process.
  kin::Context ctx{kin::StartMethod::spawn};
  auto child = ctx.process(get_from_stopped, d, pid);
  child.start();
  ASSERT_TRUE(child.join(20s));
  EXPECT_EQ(child.exitcode(), 0);
  cont(pid);
  EXPECT_EQ(d.get("a"), 1);
}

TEST_F(ManagerDeadline, RemoteTcpManagerStoppedIsTimeoutErrorThenWorksAfterSigcont) {
  const kin::Address a = start_remote("remote-key");
  ASSERT_NE(a.port, 0);
  const pid_t pid = remote_->pid();
  ASSERT_GT(pid, 0);
  auto m = kin::Manager::connect(a, "remote-key", 300ms);
  auto d = m.dict<std::string, int>("shared");
  d.set("x", 1);
  stop(pid);
  if (HasFatalFailure()) return;

  const auto t0 = Clock::now();
  EXPECT_THROW((void)d.get("x"), kin::TimeoutError);
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 5s);

  cont(pid);
  EXPECT_EQ(d.get("x"), 1);
  m.shutdown();  // a client stops a remote server
  ASSERT_TRUE(remote_->join(10s));
  EXPECT_EQ(remote_->exitcode(), 0);
}

TEST_F(ManagerDeadline, RemoteTcpWithoutCallTimeoutWorksAndShutsDown) {
  const kin::Address a = start_remote("k2");
  ASSERT_NE(a.port, 0);
  auto m = kin::Manager::connect(a, "k2");
  auto d = m.dict<std::string, int>("shared");
  d.set("x", 5);
  EXPECT_EQ(d.get("x"), 5);
  m.shutdown();
  ASSERT_TRUE(remote_->join(10s));
}

TEST(SocketKeepAlive, SetsKeepaliveAndUserTimeoutOnTcpAndLeavesUnixSockets) {
  using kin::detail::SocketAddress;
  auto l = kin::detail::listen_on(SocketAddress{"127.0.0.1", 0, {}});
  const auto bound = kin::detail::local_address(l.get(), SocketAddress{"127.0.0.1", 0, {}});
  auto c = kin::detail::connect_to(bound, kin::detail::Deadline::after(5s));
  auto s = kin::detail::accept_from(l.get());
  kin::detail::set_keepalive(c.get(), kin::detail::KeepAlive{.idle = 7s, .interval = 2s, .count = 4,
                                                             .user_timeout = 9000ms});
  auto get = [&](int level, int name) {
    int v = -1;
    socklen_t n = sizeof v;
    EXPECT_EQ(::getsockopt(c.get(), level, name, &v, &n), 0);
    return v;
  };
  EXPECT_EQ(get(SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_KEEPIDLE), 7);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_KEEPINTVL), 2);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_KEEPCNT), 4);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_USER_TIMEOUT), 9000);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  kin::unique_fd a{sv[0]}, b{sv[1]};
  EXPECT_NO_THROW(kin::detail::set_keepalive(a.get()));
}
