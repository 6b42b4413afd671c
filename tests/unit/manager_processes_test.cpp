// kin::Manager across processes: proxies passed to children and grandchildren under every
// start method, eight processes hammering one dict, and the failures — the server SIGKILLed
// in the middle of calls, a wrong authkey, garbage and oversized frames, a client SIGKILLed
// while it holds a Lock — plus remote managers over TCP and Unix sockets.
#include <kin/manager.hpp>

#include <kin/context.hpp>
#include <kin/errors.hpp>
#include <kin/process.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/listener_core.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// The manager's server (and the tests' children) fork beside the test's threads.
const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

int fill(kin::DictProxy<std::string, int> d, kin::ListProxy<int> l, kin::NamespaceProxy ns, int who) {
  d.set("child" + std::to_string(who), who);
  d.add("total", who);
  l.append(who);
  ns.set("last", who);
  return 0;
}

int grandchild(kin::DictProxy<std::string, int> d) {
  d.set("grandchild", 3);
  return 0;
}

int child_starting_grandchild(kin::DictProxy<std::string, int> d, kin::StartMethod method) {
  d.set("child", 2);
  kin::Context ctx{method};
  auto p = ctx.process(grandchild, d);
  p.start();
  p.join();
  return p.exitcode() == 0 ? 0 : 1;
}

int use_sync(kin::QueueProxy<int> q, kin::LockProxy lock, kin::EventProxy e, kin::ValueProxy<long> v) {
  lock.acquire();
  v.add(10);
  lock.release();
  q.put(42);
  return e.wait(10s) ? 0 : 1;
}

int hammer(kin::DictProxy<int, long> d, kin::ListProxy<int> l, int who) {
  for (int i = 0; i < 300; ++i) {
    d.add(0, 1);
    d.add(who + 1, 2);
    if (i % 10 == 0) l.append(who);
  }
  return 0;
}

// A consumer of a JoinableQueue: doubles every job into `a` and marks it done; -1 ends it.
int consume_jobs(kin::JoinableQueueProxy<int> q, kin::ArrayProxy<int> a) {
  for (;;) {
    int job = q.get();
    if (job < 0) {
      q.task_done();
      return 0;
    }
    a[job] = job * 2;
    q.task_done();
  }
}

int hold_lock(kin::LockProxy lock, kin::EventProxy held) {
  lock.acquire();
  held.set();
  ::pause();  // killed here, still holding it
  return 0;
}

int remote_client(kin::Address a, std::string key, int who) {
  auto m = kin::Manager::connect(a, key);
  auto d = m.dict<std::string, int>("shared");
  for (int i = 0; i < 100; ++i) d.add("count", 1);
  d.set("client" + std::to_string(who), who);
  return 0;
}

int serve_at(kin::Address a, std::string key) {
  kin::Manager::serve(a, key);
  return 0;
}

}  // namespace

class ManagerAcrossProcesses : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(ManagerAcrossProcesses, ChildrenFillDictListNamespace) {
  kin::Manager m{kin::ManagerOptions{.start_method = GetParam()}};
  auto d = m.dict<std::string, int>();
  auto l = m.list<int>();
  auto ns = m.namespace_();
  kin::Context ctx{GetParam()};
  std::vector<kin::Process> ps;
  for (int i = 1; i <= 3; ++i) ps.push_back(ctx.process(fill, d, l, ns, i));
  for (auto& p : ps) p.start();
  for (auto& p : ps) {
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(d.get("total"), 6);
  EXPECT_EQ(d.get("child2"), 2);
  auto v = l.to_vector();
  std::sort(v.begin(), v.end());
  EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
  EXPECT_GE(ns.get<int>("last"), 1);
}

TEST_P(ManagerAcrossProcesses, ProxyReachesAGrandchild) {
  kin::Manager m{kin::ManagerOptions{.start_method = GetParam()}};
  auto d = m.dict<std::string, int>();
  d.set("parent", 1);  // the parent's connection is open when the child forks
  kin::Context ctx{GetParam()};
  auto p = ctx.process(child_starting_grandchild, d, GetParam());
  p.start();
  ASSERT_TRUE(p.join(30s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(d.get("child"), 2);
  EXPECT_EQ(d.get("grandchild"), 3);
  EXPECT_EQ(d.get("parent"), 1);
}

TEST_P(ManagerAcrossProcesses, SyncProxiesInAChild) {
  kin::Manager m{kin::ManagerOptions{.start_method = GetParam()}};
  auto q = m.Queue<int>();
  auto lock = m.Lock();
  auto e = m.Event();
  auto v = m.Value<long>(1);
  kin::Context ctx{GetParam()};
  auto p = ctx.process(use_sync, q, lock, e, v);
  p.start();
  EXPECT_EQ(q.get(20s), 42);
  EXPECT_EQ(v.load(), 11);
  e.set();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

// _test_multiprocessing.py's test_task_done with a manager's JoinableQueue, and an ArrayProxy
// (test_array under the manager): join() returns only after a consumer in a child has called
// task_done() for every item; the child's writes land in the array.
TEST_P(ManagerAcrossProcesses, JoinableQueueAndArrayInAChild) {
  kin::Manager m{kin::ManagerOptions{.start_method = GetParam()}};
  auto q = m.JoinableQueue<int>();
  auto a = m.Array<int>(8);
  EXPECT_EQ(a.size(), 8u);
  kin::Context ctx{GetParam()};
  auto p = ctx.process(consume_jobs, q, a);
  p.start();
  for (int i = 0; i < 8; ++i) q.put(i);
  EXPECT_TRUE(q.join(30s));
  EXPECT_EQ(a.to_vector(), (std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14}));
  q.put(-1);
  q.join();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, ManagerAcrossProcesses,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

TEST(ManagerProcesses, EightProcessesHammerOneDict) {
  kin::Manager m;
  auto d = m.dict<int, long>();
  auto l = m.list<int>();
  kin::Context ctx{kin::StartMethod::fork};
  std::vector<kin::Process> ps;
  for (int i = 0; i < 8; ++i) ps.push_back(ctx.process(hammer, d, l, i));
  for (auto& p : ps) p.start();
  for (auto& p : ps) {
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(d.get(0), 8 * 300);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(d.get(i + 1), 600);
  EXPECT_EQ(l.size(), 8u * 30u);
}

TEST(ManagerProcesses, ServerKilledMidCallIsManagerLost) {
  kin::Manager m;
  auto q = m.Queue<int>();
  auto d = m.dict<int, int>();
  d.set(1, 1);
  std::exception_ptr seen;
  std::thread waiter([&] {
    try {
      (void)q.get();  // waits on the server, forever unless it answers
    } catch (...) {
      seen = std::current_exception();
    }
  });
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(*m.pid(), SIGKILL), 0);
  const auto t0 = std::chrono::steady_clock::now();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  ASSERT_TRUE(seen);
  EXPECT_THROW(std::rethrow_exception(seen), kin::ManagerLost);
  EXPECT_THROW((void)d.get(1), kin::ManagerLost);
  EXPECT_THROW(d.set(2, 2), kin::ManagerLost);
  EXPECT_THROW((void)q.qsize(), kin::ManagerLost);
  EXPECT_THROW((void)m.namespace_(), kin::ManagerLost);
}

TEST(ManagerProcesses, WrongAuthkeyIsAuthenticationError) {
  kin::Manager m;
  EXPECT_THROW((void)kin::Manager::connect(m.address(), "not the key"), kin::AuthenticationError);
  auto ok = kin::Manager::connect(m.address(), m.authkey());
  auto d = ok.dict<int, int>();
  d.set(1, 2);
  EXPECT_EQ(d.get(1), 2);
}

TEST(ManagerProcesses, GarbageAndOversizedFramesAreRefused) {
  kin::Manager m{kin::ManagerOptions{.max_message = 4096}};
  auto d = m.dict<int, int>();
  d.set(1, 1);
  const auto addr = kin::detail::SocketAddress{"", 0, m.address().path};
  {
    auto fd = kin::detail::client_connect(addr, m.authkey(), 5s);
    // garbage: an unknown op, then a truncated dict set, then a valid request again
    const std::uint32_t id = d.id();
    std::string set_truncated("\x0a", 1);  // d_set on d, a blob announcing 5 bytes, none there
    set_truncated.append(reinterpret_cast<const char*>(&id), sizeof id).append("\x05", 1);
    // (each after a request id, 7, which the reply carries back; "\x01" is too short to hold one)
    const std::string rid("\x07\x00\x00\x00", 4);
    for (const std::string& payload : {rid + std::string("\xee\x01\x00\x00\x00", 5), rid + set_truncated, std::string("\x01", 1)}) {
      kin::Bytes b(payload.size());
      std::memcpy(b.data(), payload.data(), payload.size());
      kin::detail::write_frame(fd.get(), b);
      auto reply = kin::detail::read_frame(fd.get(), 5000ms);
      ASSERT_TRUE(reply);
      ASSERT_GE(reply->size(), 5u);
      EXPECT_EQ(static_cast<int>((*reply)[0]), payload.size() > 1 ? 7 : 0);
      EXPECT_EQ(static_cast<int>((*reply)[4]), static_cast<int>(kin::detail::mgr::Status::protocol_error));
    }
    EXPECT_EQ(d.get(1), 1);  // the others are served meanwhile
  }
  {
    auto fd = kin::detail::client_connect(addr, m.authkey(), 5s);
    const unsigned char header[4] = {0xf0, 0xff, 0xff, 0x7f};  // ~2 GiB announced
    ASSERT_EQ(::write(fd.get(), header, 4), 4);
    auto reply = kin::detail::read_frame(fd.get(), 5000ms);
    ASSERT_TRUE(reply);
    ASSERT_GE(reply->size(), 5u);
    EXPECT_EQ(static_cast<int>((*reply)[4]), static_cast<int>(kin::detail::mgr::Status::protocol_error));
    EXPECT_THROW((void)kin::detail::read_frame(fd.get(), 5000ms), kin::EOFError);  // closed after
  }
  EXPECT_EQ(d.get(1), 1);
  d.set(2, 2);
  EXPECT_EQ(d.size(), 2u);
}

TEST(ManagerProcesses, ClientKilledHoldingLockReleasesIt) {
  kin::Manager m;
  auto lock = m.Lock();
  auto held = m.Event();
  kin::Context ctx{kin::StartMethod::fork};
  auto p = ctx.process(hold_lock, lock, held);
  p.start();
  ASSERT_TRUE(held.wait(20s));
  EXPECT_FALSE(lock.acquire(10ms));
  p.kill();
  ASSERT_TRUE(p.join(10s));
  EXPECT_TRUE(lock.acquire(5s));
  lock.release();
}

TEST(ManagerProcesses, RemoteOverTcpUsedByTwoClients) {
  kin::Manager m{kin::ManagerOptions{.address = kin::Address{"127.0.0.1", 0}, .authkey = "secret"}};
  ASSERT_NE(m.address().port, 0);
  kin::Context ctx{kin::StartMethod::spawn};
  auto a = ctx.process(remote_client, m.address(), std::string("secret"), 1);
  auto b = ctx.process(remote_client, m.address(), std::string("secret"), 2);
  a.start();
  b.start();
  ASSERT_TRUE(a.join(20s));
  ASSERT_TRUE(b.join(20s));
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(b.exitcode(), 0);
  auto d = m.dict<std::string, int>("shared");
  EXPECT_EQ(d.get("count"), 200);
  EXPECT_EQ(d.get("client1"), 1);
  EXPECT_EQ(d.get("client2"), 2);
  EXPECT_THROW((void)kin::Manager::connect(m.address(), "wrong"), kin::AuthenticationError);
}

TEST(ManagerProcesses, ServeOnUnixSocketAndShutdownByClient) {
  const std::string path = "/tmp/kin-mgr-test-" + std::to_string(::getpid()) + ".sock";
  kin::Context ctx{kin::StartMethod::fork};
  auto server = ctx.process(serve_at, kin::Address::unix_path(path), std::string("k"));
  server.start();
  std::optional<kin::Manager> c;
  for (int i = 0; i < 500 && !c; ++i) {
    try {
      c.emplace(kin::Manager::connect(kin::Address::unix_path(path), "k"));
    } catch (const kin::ManagerLost&) {
      std::this_thread::sleep_for(10ms);  // not listening yet
    }
  }
  ASSERT_TRUE(c);
  auto l = c->list<std::string>("log");
  l.append("hello");
  EXPECT_EQ(c->list<std::string>("log").get(0), "hello");
  c->shutdown();
  ASSERT_TRUE(server.join(10s));
  EXPECT_EQ(server.exitcode(), 0);
  EXPECT_THROW(l.append("x"), kin::ManagerLost);
}

TEST(ManagerProcesses, ManagerLostIsQuickForEveryProxy) {
  kin::Manager m;
  auto d = m.dict<int, int>();
  auto e = m.Event();
  auto lock = m.Lock();
  lock.acquire();
  std::vector<std::thread> ts;
  std::atomic<int> lost{0};
  ts.emplace_back([&, e]() mutable {
    try { e.wait(); } catch (const kin::ManagerLost&) { ++lost; }
  });
  ts.emplace_back([&, lock]() mutable {
    try { lock.acquire(); } catch (const kin::ManagerLost&) { ++lost; }
  });
  std::this_thread::sleep_for(50ms);
  ::kill(*m.pid(), SIGKILL);
  for (auto& t : ts) t.join();
  EXPECT_EQ(lost.load(), 2);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW((void)d.size(), kin::ManagerLost);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(ManagerProcesses, RestartedServerLosesStateExplicitly) {
  kin::Manager m{kin::ManagerOptions{.restart = true}};
  auto d = m.dict<int, int>();
  d.set(1, 1);
  const pid_t first = *m.pid();
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  EXPECT_THROW((void)d.get(1), kin::ManagerLost);  // the first call after: not silence
  for (int i = 0; i < 1000 && m.pid() == first; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_NE(m.pid(), first);
  std::optional<kin::DictProxy<int, int>> fresh;
  for (int i = 0; i < 500 && !fresh; ++i) {
    try {
      fresh = m.dict<int, int>();
    } catch (const kin::ManagerLost&) {
      std::this_thread::sleep_for(5ms);  // the new server is not listening yet
    }
  }
  ASSERT_TRUE(fresh);
  fresh->set(1, 2);
  EXPECT_EQ(fresh->get(1), 2);
  EXPECT_THROW((void)d.get(1), kin::ManagerLost);  // a proxy of the old server stays lost
  EXPECT_THROW(d.set(1, 5), kin::ManagerLost);
}
