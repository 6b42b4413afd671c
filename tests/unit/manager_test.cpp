// kin::Manager: every proxy operation and its errors, proxies in children under every start
// method, and the failures: a killed server, a wrong key, garbage and oversized requests, a
// client killed holding a Lock.
#include <kin/manager.hpp>

#include <kin/context.hpp>
#include <kin/errors.hpp>
#include <kin/process.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/listener_core.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

void double_it(long& v, const long& times) { v = v * 2 * times; }
KIN_MANAGER_FUNCTION(double_it);

void append_word(std::string& v, const std::string& w) {
  if (!v.empty()) v += ' ';
  v += w;
}
KIN_MANAGER_FUNCTION(append_word);

}  // namespace

TEST(Manager, DictOperations) {
  kin::Manager m;
  auto d = m.dict<std::string, int>();
  EXPECT_EQ(d.size(), 0u);
  EXPECT_TRUE(d.empty());
  d.set("a", 1);
  d["b"] = 2;
  EXPECT_EQ(d.get("a"), 1);
  EXPECT_EQ(static_cast<int>(d["b"]), 2);
  EXPECT_THROW((void)d.get("zz"), kin::KeyError);
  EXPECT_THROW((void)static_cast<int>(d["zz"]), kin::KeyError);
  EXPECT_EQ(d.get("zz", 7), 7);
  EXPECT_TRUE(d.contains("a"));
  EXPECT_FALSE(d.contains("zz"));
  EXPECT_EQ(d.size(), 2u);
  auto keys = d.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
  auto values = d.values();
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<int>{1, 2}));
  EXPECT_EQ(d.items().size(), 2u);
  EXPECT_EQ(d.to_map(), (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
  d.update(std::map<std::string, int>{{"b", 20}, {"c", 30}});
  EXPECT_EQ(d.to_map(), (std::map<std::string, int>{{"a", 1}, {"b", 20}, {"c", 30}}));
  EXPECT_EQ(d.setdefault("a", 100), 1);
  EXPECT_EQ(d.setdefault("n", 100), 100);
  EXPECT_EQ(d.pop("n"), 100);
  EXPECT_THROW((void)d.pop("n"), kin::KeyError);
  EXPECT_EQ(d.pop("n", -1), -1);
  EXPECT_EQ(d.add("a", 5), 6);
  EXPECT_EQ(d["a"] += 4, 10);
  EXPECT_EQ(d["a"] -= 1, 9);
  EXPECT_EQ(d.add("fresh", 3), 3);  // missing counts as 0
  EXPECT_TRUE(d.erase("fresh"));
  EXPECT_FALSE(d.erase("fresh"));
  d.clear();
  EXPECT_EQ(d.size(), 0u);
}

TEST(Manager, DictAddAndApplyAreTyped) {
  kin::Manager m;
  auto d = m.dict<int, double>();
  EXPECT_DOUBLE_EQ(d.add(1, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(d.add(1, 0.25), 0.75);
  auto l = m.dict<std::string, long>();
  l.set("x", 3);
  EXPECT_EQ(l.apply("double_it", std::string("x"), 5L), 30);
  EXPECT_EQ(l.apply("double_it", std::string("missing"), 5L), 0);
  EXPECT_THROW((void)l.apply("no_such_function", std::string("x"), 1L), kin::ValueError);
  auto s = m.dict<int, std::string>();
  EXPECT_EQ(s.apply("append_word", 1, std::string("hello")), "hello");
  EXPECT_EQ(s.apply("append_word", 1, std::string("world")), "hello world");
  EXPECT_THROW((void)s.apply("double_it", 1, 1L), kin::ProtocolError);  // a string is no long
  EXPECT_EQ(s.get(1), "hello world");                                  // and nothing changed
}

TEST(Manager, ListOperations) {
  kin::Manager m;
  auto l = m.list<int>();
  EXPECT_TRUE(l.empty());
  l.append(1);
  l.extend(std::vector<int>{2, 3, 4});
  EXPECT_EQ(l.size(), 4u);
  EXPECT_EQ(l.get(0), 1);
  EXPECT_EQ(l.get(-1), 4);
  EXPECT_THROW((void)l.get(4), kin::IndexError);
  EXPECT_THROW((void)l.get(-5), kin::IndexError);
  l.set(1, 20);
  l[2] = 30;
  EXPECT_EQ(static_cast<int>(l[2]), 30);
  EXPECT_THROW(l.set(9, 0), kin::IndexError);
  l.insert(0, 0);
  l.insert(-1, 35);
  l.insert(100, 5);
  EXPECT_EQ(l.to_vector(), (std::vector<int>{0, 1, 20, 30, 35, 4, 5}));
  EXPECT_EQ(l.pop(), 5);
  EXPECT_EQ(l.pop(0), 0);
  EXPECT_THROW((void)l.pop(10), kin::IndexError);
  l.clear();
  EXPECT_THROW((void)l.pop(), kin::IndexError);
}

TEST(Manager, NamespaceOperations) {
  kin::Manager m;
  auto ns = m.namespace_();
  ns.set("x", 10);
  ns.set<std::string>("name", "job");
  ns.set("v", std::vector<double>{1.5, 2.5});
  EXPECT_EQ(ns.get<int>("x"), 10);
  EXPECT_EQ(ns.get<std::string>("name"), "job");
  EXPECT_EQ(ns.get<std::vector<double>>("v"), (std::vector<double>{1.5, 2.5}));
  EXPECT_THROW((void)ns.get<int>("nope"), kin::KeyError);
  EXPECT_EQ(ns.get<int>("nope", 3), 3);
  EXPECT_TRUE(ns.contains("x"));
  EXPECT_TRUE(ns.erase("x"));
  EXPECT_FALSE(ns.contains("x"));
  EXPECT_EQ(ns.names().size(), 2u);
}

TEST(Manager, ValueOperations) {
  kin::Manager m;
  auto v = m.Value<long>(5);
  EXPECT_EQ(v.load(), 5);
  v.store(7);
  EXPECT_EQ(v.get(), 7);
  EXPECT_EQ(v.add(3), 10);
  auto s = m.Value<std::string>("text");
  EXPECT_EQ(s.load(), "text");
}

TEST(Manager, QueueOperations) {
  kin::Manager m;
  auto q = m.Queue<std::string>(2);
  EXPECT_TRUE(q.empty());
  q.put("a");
  EXPECT_TRUE(q.put("b", 10ms));
  EXPECT_TRUE(q.full());
  EXPECT_FALSE(q.put("c", 20ms));
  EXPECT_THROW(q.put_nowait("c"), kin::Full);
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get_nowait(), "b");
  EXPECT_THROW((void)q.get_nowait(), kin::Empty);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q.get(30ms), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
  // a blocked get is answered by a put from another thread (its own connection)
  std::thread t([q]() mutable {
    std::this_thread::sleep_for(20ms);
    q.put("late");
  });
  EXPECT_EQ(q.get(5s), "late");
  t.join();
  // a blocked put is answered by a get
  q.put("1");
  q.put("2");
  std::thread t2([q]() mutable {
    std::this_thread::sleep_for(20ms);
    (void)q.get();
  });
  EXPECT_TRUE(q.put("3", 5s));
  t2.join();
  EXPECT_EQ(q.get(), "2");
  EXPECT_EQ(q.get(), "3");
}

TEST(Manager, JoinableQueueOperations) {
  kin::Manager m;
  auto q = m.JoinableQueue<std::string>(4);
  EXPECT_TRUE(q.join(10ms));  // nothing unfinished
  q.put("a");
  q.put("b");
  EXPECT_FALSE(q.join(20ms));  // two unfinished
  EXPECT_EQ(q.get(), "a");
  q.task_done();
  EXPECT_FALSE(q.join(20ms));  // "b" is still unfinished, though nobody took it yet
  EXPECT_EQ(q.get(), "b");
  std::thread t([q]() mutable {
    std::this_thread::sleep_for(20ms);
    q.task_done();
  });
  EXPECT_TRUE(q.join(5s));  // woken by the last task_done, not polled
  t.join();
  EXPECT_THROW(q.task_done(), kin::ValueError);  // more task_done() than items
  // a named one is the same queue for every proxy, and not a plain Queue
  auto named = m.JoinableQueue<int>("jobs");
  m.JoinableQueue<int>("jobs").put(1);
  EXPECT_EQ(named.qsize(), 1u);
  EXPECT_THROW((void)m.Queue<int>("jobs"), kin::ValueError);
}

TEST(Manager, ArrayOperations) {
  kin::Manager m;
  auto a = m.Array<double>({1.0, 2.0, 3.0});
  EXPECT_EQ(a.size(), 3u);
  a[0] = 5.0;
  a.set(1, 6.0);
  EXPECT_EQ(double(a[-1]), 3.0);
  EXPECT_EQ(a.get(0), 5.0);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{5.0, 6.0, 3.0}));
  EXPECT_THROW((void)a.get(3), kin::IndexError);
  auto zeros = m.Array<int>(4);
  EXPECT_EQ(zeros.to_vector(), (std::vector<int>(4)));
}

TEST(Manager, LockOperations) {
  kin::Manager m;
  auto lock = m.Lock();
  EXPECT_FALSE(lock.locked());
  lock.acquire();
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(lock.acquire(20ms));
  EXPECT_FALSE(lock.try_acquire());
  lock.release();
  EXPECT_THROW(lock.release(), kin::ValueError);
  { std::lock_guard g{lock}; EXPECT_TRUE(lock.locked()); }
  EXPECT_FALSE(lock.locked());
  // a waiter is granted on release
  lock.acquire();
  std::thread t([lock]() mutable {
    std::this_thread::sleep_for(20ms);
    lock.release();  // a Lock may be released by another thread, as in Python
  });
  EXPECT_TRUE(lock.acquire(5s));
  t.join();
  lock.release();

  auto r = m.RLock();
  r.acquire();
  r.acquire();
  std::thread other([r]() mutable {
    EXPECT_FALSE(r.acquire(20ms));  // another thread: not the owner
    EXPECT_THROW(r.release(), kin::ValueError);
  });
  other.join();
  r.release();
  r.release();
  EXPECT_THROW(r.release(), kin::ValueError);

  auto s = m.Semaphore(2);
  s.acquire();
  s.acquire();
  EXPECT_FALSE(s.acquire(10ms));
  EXPECT_EQ(s.get_value(), 0);
  s.release();
  s.release();
  s.release();  // an unbounded semaphore counts past its start
  EXPECT_EQ(s.get_value(), 3);
  auto b = m.BoundedSemaphore(1);
  b.acquire();
  b.release();
  EXPECT_THROW(b.release(), kin::ValueError);
}

TEST(Manager, EventOperations) {
  kin::Manager m;
  auto e = m.Event();
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.wait(20ms));
  std::thread t([e]() mutable {
    std::this_thread::sleep_for(20ms);
    e.set();
  });
  EXPECT_TRUE(e.wait(5s));
  t.join();
  EXPECT_TRUE(e.is_set());
  e.wait();
  e.clear();
  EXPECT_FALSE(e.is_set());
}

TEST(Manager, NamedObjectsAreShared) {
  kin::Manager m;
  auto a = m.dict<int, int>("scores");
  auto b = m.dict<int, int>("scores");
  EXPECT_EQ(a.id(), b.id());
  a.set(1, 2);
  EXPECT_EQ(b.get(1), 2);
  auto fresh = m.dict<int, int>();
  EXPECT_NE(fresh.id(), a.id());
  EXPECT_THROW((void)m.list<int>("scores"), kin::ValueError);
}

TEST(Manager, EmptyProxyAndShutdown) {
  kin::DictProxy<int, int> empty;
  EXPECT_FALSE(empty);
  EXPECT_THROW((void)empty.size(), kin::ValueError);
  kin::Manager m;
  auto d = m.dict<int, int>();
  d.set(1, 1);
  m.shutdown();
  m.shutdown();  // idempotent
  EXPECT_THROW((void)d.get(1), kin::ManagerLost);
  EXPECT_THROW(d.set(1, 1), kin::ManagerLost);
}

TEST(Manager, OversizedRequestIsRefusedBeforeSending) {
  kin::Manager m{kin::ManagerOptions{.max_message = 1024}};
  auto d = m.dict<int, std::string>();
  EXPECT_THROW(d.set(1, std::string(4096, 'x')), kin::ProtocolError);
  d.set(2, "small");
  EXPECT_EQ(d.get(2), "small");
}

TEST(Manager, BarrierOperations) {
  kin::Manager m;
  auto b = m.Barrier(3);
  EXPECT_EQ(b.parties(), 3);
  EXPECT_FALSE(b.broken());
  std::vector<std::int64_t> got(3, -1);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) ts.emplace_back([b, &got, i]() mutable { got[static_cast<std::size_t>(i)] = b.wait(10s); });
  for (auto& t : ts) t.join();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::int64_t>{0, 1, 2}));
  // a timed-out wait breaks it for everyone
  std::thread t([b]() mutable { EXPECT_THROW((void)b.wait(10s), kin::BrokenBarrierError); });
  EXPECT_THROW((void)b.wait(30ms), kin::BrokenBarrierError);
  t.join();
  EXPECT_TRUE(b.broken());
  EXPECT_THROW((void)b.wait(), kin::BrokenBarrierError);
  b.reset();
  EXPECT_FALSE(b.broken());
  std::thread t2([b]() mutable { EXPECT_THROW((void)b.wait(10s), kin::BrokenBarrierError); });
  while (b.n_waiting() == 0) std::this_thread::sleep_for(1ms);
  b.abort();
  t2.join();
  EXPECT_TRUE(b.broken());
  EXPECT_THROW((void)m.Barrier(0), kin::ValueError);
}
