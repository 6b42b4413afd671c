// kin::Manager's pipelined proxy calls (…_async → kin::ManagerFuture) and the request ids that
// make them possible: many requests in flight on one connection, answered in order into their
// futures; a synchronous call sees the async requests made before it; the server SIGKILLed
// mid-batch fails every outstanding future with ManagerLost (none hangs); a hostile server that
// answers with an unknown id, or out of order, is a ProtocolError (sync and async); a
// call_timeout bounds a pipelined request (TimeoutError for it and those behind it; the next
// call works after SIGCONT).
#include <kin/manager.hpp>

#include <kin/errors.hpp>
#include <kin/process.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/listener_core.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"
#include "test_util.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace mgr = kin::detail::mgr;

namespace {

const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

using kin::testing::proc_state;

// SIGSTOPs `pid` and waits (bounded) until the kernel reports it stopped.
bool stop_and_wait(pid_t pid) {
  if (pid <= 0 || ::kill(pid, SIGSTOP) != 0) return false;
  const auto until = Clock::now() + 5s;
  while (proc_state(pid) != 'T' && Clock::now() < until) std::this_thread::sleep_for(5ms);
  return proc_state(pid) == 'T';
}

int child_sets_async(kin::DictProxy<int, long> d) {
  for (int i = 0; i < 500; ++i) (void)d.set_async(1000 + i, i);
  return d.get(1499) == 499 ? 0 : 1;  // the sync call waits for the child's async ones
}

// A server that speaks the handshake and the framing but not the protocol's promise: it
// answers ping and create correctly, then every other request the way `mode` says.
class HostileServer {
 public:
  enum class Mode { unknown_id, swapped };
  HostileServer(Mode mode, std::string path)
      : mode_(mode), path_(std::move(path)),
        listener_(kin::detail::SocketAddress{"", 0, path_}, "hostile", std::chrono::seconds(5)) {
    acceptor_ = std::thread([this] {
      for (;;) {
        try {
          auto fd = std::make_shared<kin::unique_fd>(listener_.accept());
          std::lock_guard g{mu_};
          handlers_.emplace_back([this, fd] { serve(fd->get()); });
        } catch (const std::exception&) {
          if (listener_.closed()) return;
        }
      }
    });
  }
  ~HostileServer() {
    listener_.close();
    acceptor_.join();
    std::lock_guard g{mu_};
    for (auto& t : handlers_) t.join();
    ::unlink(path_.c_str());
  }
  [[nodiscard]] kin::Address address() const { return kin::Address::unix_path(path_); }

 private:
  static kin::Bytes reply(std::uint32_t rid, std::uint32_t object, bool with_object) {
    kin::Bytes b(4 + 1 + (with_object ? 4 : 0));
    std::memcpy(b.data(), &rid, 4);
    b[4] = std::byte{0};
    if (with_object) std::memcpy(b.data() + 5, &object, 4);
    return b;
  }
  void serve(int fd) {
    std::vector<std::uint32_t> held;  // swapped: requests kept to answer in reverse order
    try {
      for (;;) {
        auto f = kin::detail::read_frame(fd, 10000ms);
        if (!f || f->size() < 5) return;
        std::uint32_t rid = 0;
        std::memcpy(&rid, f->data(), 4);
        const auto op = static_cast<mgr::Op>((*f)[4]);
        if (op == mgr::Op::ping || op == mgr::Op::create) {
          kin::detail::write_frame(fd, reply(rid, 7, op == mgr::Op::create));
          continue;
        }
        if (mode_ == Mode::unknown_id) {
          kin::detail::write_frame(fd, reply(rid + 1000, 0, false));
          continue;
        }
        held.push_back(rid);
        if (held.size() == 2) {
          kin::detail::write_frame(fd, reply(held[1], 0, false));
          kin::detail::write_frame(fd, reply(held[0], 0, false));
          held.clear();
        }
      }
    } catch (const std::exception&) {
      // the client closed: done
    }
  }

  Mode mode_;
  std::string path_;
  kin::detail::ListenerCore listener_;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> handlers_;
};

std::string temp_socket(const char* what) {
  return std::string("/tmp/kin-test-").append(what).append("-").append(std::to_string(::getpid())).append(".sock");
}

}  // namespace

TEST(ManagerPipeline, AsyncDictAndListOpsAnswerInOrder) {
  kin::Manager m;
  auto d = m.dict<int, long>();
  auto l = m.list<long>();
  constexpr int n = 5000;  // many batches, more than one window
  std::vector<kin::ManagerFuture<void>> sets;
  for (int i = 0; i < n; ++i) sets.push_back(d.set_async(i % 100, i));
  for (auto& f : sets) f.get();
  EXPECT_EQ(d.get(99), n - 1);  // the last write of key 99 won
  std::vector<kin::ManagerFuture<long>> adds;
  for (int i = 0; i < n; ++i) adds.push_back(d.add_async(-1, 2));
  for (int i = 0; i < n; ++i) EXPECT_EQ(adds[static_cast<std::size_t>(i)].get(), 2L * (i + 1));
  auto missing = d.get_async(12345);
  auto present = d.contains_async(0);
  auto absent = d.contains_async(12345);
  auto value = d.get_async(0);
  EXPECT_THROW((void)missing.get(), kin::KeyError);
  EXPECT_THROW((void)missing.get(), kin::KeyError);  // again: the same error
  EXPECT_TRUE(present.get());
  EXPECT_FALSE(absent.get());
  EXPECT_EQ(value.get(), 4900);
  EXPECT_TRUE(d.erase_async(0).get());
  for (long i = 0; i < 300; ++i) (void)l.append_async(i);
  auto last = l.get_async(-1);
  auto bad = l.get_async(1000);
  EXPECT_EQ(last.get(), 299);
  EXPECT_THROW((void)bad.get(), kin::IndexError);
  EXPECT_EQ(l.size(), 300u);
  kin::ManagerFuture<long> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_THROW((void)empty.get(), kin::ValueError);
}

TEST(ManagerPipeline, SyncCallSeesEarlierAsyncRequestsAndReadyDoesNotBlock) {
  kin::Manager m;
  auto d = m.dict<int, long>();
  for (int i = 0; i < 10; ++i) (void)d.set_async(i, i * 10);  // futures dropped: still sent
  EXPECT_EQ(d.get(9), 90);  // less than a batch, never flushed by hand: the sync call sent them
  auto f = d.set_async(42, 1);
  d.flush();
  const auto until = Clock::now() + 10s;
  while (!f.ready() && Clock::now() < until) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(f.ready());
  f.get();
  EXPECT_EQ(d.get(42), 1);
}

TEST(ManagerPipeline, FireAndForgetRequestsReachTheServerWhenTheLastProxyGoes) {
  kin::Manager m;
  auto d = m.dict<int, long>("shared");
  {
    auto c = kin::Manager::connect(m.address(), m.authkey());
    auto cd = c.dict<int, long>("shared");
    for (int i = 0; i < 5; ++i) (void)cd.set_async(i, i);
  }  // no get(), no flush(): the session's end sends them
  EXPECT_EQ(d.size(), 5u);
}

TEST(ManagerPipeline, AChildPipelinesOnItsOwnConnection) {
  kin::Manager m;
  auto d = m.dict<int, long>();
  auto before = d.set_async(1, 1);  // outstanding in the parent when the child forks
  kin::Process p{child_sets_async, d};
  p.start();
  ASSERT_TRUE(p.join(30s));
  EXPECT_EQ(p.exitcode(), 0);
  before.get();
  EXPECT_EQ(d.get(1000), 0);
  EXPECT_EQ(d.size(), 501u);
}

TEST(ManagerPipeline, ServerKilledMidBatchFailsEveryOutstandingFutureWithManagerLost) {
  kin::Manager m;
  auto d = m.dict<int, long>();
  d.set(0, 0);
  const pid_t server = m.pid().value_or(0);
  ASSERT_GT(server, 0);
  ASSERT_TRUE(stop_and_wait(server));  // nothing sent from here on is answered
  std::vector<kin::ManagerFuture<long>> fs;
  for (int i = 0; i < 1000; ++i) fs.push_back(d.add_async(0, 1));  // several batches sent
  ASSERT_EQ(::kill(server, SIGKILL), 0);
  const auto t0 = Clock::now();
  for (auto& f : fs) EXPECT_THROW((void)f.get(), kin::ManagerLost);
  EXPECT_LT(Clock::now() - t0, 10s);
  EXPECT_THROW((void)d.add_async(0, 1).get(), kin::ManagerLost);  // a new one cannot connect
  EXPECT_THROW((void)d.get(0), kin::ManagerLost);
}

TEST(ManagerPipeline, ServerKilledWhileRepliesFlowLeavesAnsweredPrefixThenManagerLost) {
  kin::Manager m;
  auto d = m.dict<int, long>();
  d.set(0, 0);
  const pid_t server = m.pid().value_or(0);
  ASSERT_GT(server, 0);
  std::vector<kin::ManagerFuture<long>> fs;
  bool refused = false;  // a submit after the connection failed cannot open a new one
  for (int i = 0; i < 20000 && !refused; ++i) {
    try {
      fs.push_back(d.add_async(0, 1));
    } catch (const kin::ManagerLost&) {
      refused = true;
    }
    if (i == 10000) {
      (void)fs.front().get();  // some answered for sure
      ASSERT_EQ(::kill(server, SIGKILL), 0);
    }
  }
  const auto t0 = Clock::now();
  std::size_t ok = 0, lost = 0;
  for (auto& f : fs) {
    try {
      const long v = f.get();
      EXPECT_EQ(lost, 0u) << "an answer after a ManagerLost";
      EXPECT_EQ(v, static_cast<long>(ok + 1));  // in order: the n-th answer is the n-th add
      ++ok;
    } catch (const kin::ManagerLost&) {
      ++lost;
    }
  }
  EXPECT_LT(Clock::now() - t0, 10s);
  EXPECT_GE(ok, 1u);
  EXPECT_TRUE(lost >= 1 || refused);  // those submitted after the kill
  EXPECT_EQ(ok + lost, fs.size());
}

TEST(ManagerPipeline, ReplyWithAnUnknownIdIsProtocolError) {
  HostileServer h{HostileServer::Mode::unknown_id, temp_socket("hostile-id")};
  auto c = kin::Manager::connect(h.address(), "hostile", 5000ms);
  auto d = c.dict<int, long>();
  EXPECT_THROW((void)d.get(1), kin::ProtocolError);  // the sync path checks the id too
  std::vector<kin::ManagerFuture<long>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(d.get_async(i));
  for (auto& f : fs) EXPECT_THROW((void)f.get(), kin::ProtocolError);
}

TEST(ManagerPipeline, RepliesOutOfOrderAreProtocolError) {
  HostileServer h{HostileServer::Mode::swapped, temp_socket("hostile-swap")};
  auto c = kin::Manager::connect(h.address(), "hostile", 5000ms);
  auto d = c.dict<int, long>();
  auto a = d.get_async(1);
  auto b = d.get_async(2);
  EXPECT_THROW((void)b.get(), kin::ProtocolError);  // waiting on the second reads the first reply
  EXPECT_THROW((void)a.get(), kin::ProtocolError);
}

TEST(ManagerPipeline, CallTimeoutBoundsAPipelinedRequestThenTheNextCallWorks) {
  kin::Manager m{kin::ManagerOptions{.call_timeout = 300ms}};
  auto d = m.dict<int, long>();
  d.set(1, 1);
  const pid_t server = m.pid().value_or(0);
  ASSERT_GT(server, 0);
  ASSERT_TRUE(stop_and_wait(server));
  std::vector<kin::ManagerFuture<long>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(d.get_async(1));
  const auto t0 = Clock::now();
  EXPECT_THROW((void)fs.front().get(), kin::TimeoutError);
  const auto took = Clock::now() - t0;
  for (auto& f : fs) EXPECT_THROW((void)f.get(), kin::TimeoutError);  // those behind it too, at once
  const auto all = Clock::now() - t0;
  ::kill(server, SIGCONT);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(all, 5s);
  EXPECT_EQ(d.get(1), 1);             // a new connection
  EXPECT_EQ(d.get_async(1).get(), 1);  // and a new async one
}
