#include <kin/listener.hpp>  // first: the header is self-contained

#include <kin/process.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST(Listener, TcpWithAuthkeyBothWays) {
  kin::Listener<std::string> l{kin::Address{"127.0.0.1", 0}, "secret"};
  auto addr = l.address();
  EXPECT_NE(addr.port, 0);
  std::thread client([addr] {
    auto c = kin::Client<std::string>(addr, "secret");
    c.send("hello");
    EXPECT_EQ(c.recv(), "HELLO");
  });
  auto s = l.accept();
  auto msg = s.recv();
  for (auto& ch : msg) ch = static_cast<char>(std::toupper(ch));
  s.send(msg);
  client.join();
}

TEST(Listener, UnixSocketPathAndNoAuthkey) {
  std::string path = "/tmp/kin_listener_test_" + std::to_string(::getpid()) + ".sock";
  {
    kin::Listener<int> l{kin::Address::unix_path(path)};
    EXPECT_EQ(l.address().path, path);
    std::thread client([path] { kin::Client<int>(kin::Address::unix_path(path)).send(42); });
    EXPECT_EQ(l.accept().recv(), 42);
    client.join();
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);  // removed by close()
}

TEST(Listener, WrongKeyFailsOnBothSidesAndTheListenerKeepsServing) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}, "right"};
  auto addr = l.address();
  std::thread bad([addr] { EXPECT_THROW((void)kin::Client<int>(addr, "wrong"), kin::AuthenticationError); });
  EXPECT_THROW((void)l.accept(), kin::AuthenticationError);
  bad.join();
  std::thread good([addr] { kin::Client<int>(addr, "right").send(7); });
  EXPECT_EQ(l.accept().recv(), 7);
  good.join();
}

TEST(Listener, GarbageAndSilentClientsAreDroppedWithoutBlockingTheRest) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}, "key", 10s};
  auto addr = l.address();
  // A client that sends garbage (an oversized frame header), one that says nothing, then a good one.
  auto garbage = kin::detail::connect_to({addr.host, addr.port, {}});
  std::uint32_t huge = 0xffffffffu;
  ASSERT_EQ(::write(garbage.get(), &huge, 4), 4);
  auto silent = kin::detail::connect_to({addr.host, addr.port, {}});
  std::thread good([addr] { kin::Client<int>(addr, "key").send(9); });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(l.accept().recv(10s), 9);
  // The silent client's 10 s handshake timeout did not hold the good one up.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  good.join();
  silent.reset();  // lets its handshake end now, not after 10 s
}

TEST(Listener, ClientWithoutListenerAndUseAfterClose) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}};
  auto addr = l.address();
  l.close();
  EXPECT_TRUE(l.closed());
  EXPECT_THROW((void)l.accept(), kin::ValueError);
  EXPECT_THROW((void)kin::Client<int>(addr), kin::OSError);
}

namespace {
int serve_one(kin::Address addr) {
  auto c = kin::Client<int>(addr, "k");
  c.send(c.recv() + 1);
  return 0;
}
}  // namespace

TEST(Listener, AcrossProcesses) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}, "k"};
  kin::Process p{kin::ProcessOptions{.start_method = kin::StartMethod::spawn}, serve_one, l.address()};
  p.start();
  auto c = l.accept();
  c.send(41);
  EXPECT_EQ(c.recv(10s), 42);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

// ---- the Listener under the runtime reactor; timeouts that bound the whole call (issue 9 item 5)

namespace {

using clk = std::chrono::steady_clock;

// Runs `body` in a raw-forked helper, killed after `bound`: a call that hangs fails the test
// instead of hanging it. Returns the helper's exit code (-1 when it had to be killed).
int in_helper(const std::function<int()>& body, std::chrono::milliseconds bound) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  auto deadline = clk::now() + bound;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (clk::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// True when the peer has closed `fd` (EOF or reset) within `bound`.
bool closed_by_peer_within(int fd, std::chrono::milliseconds bound) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(bound.count())) <= 0) return false;
  char buf[256];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
    if (n < 0 && errno == EAGAIN) {
      if (::poll(&p, 1, static_cast<int>(bound.count())) <= 0) return false;
    }
  }
}

}  // namespace

TEST(Listener, TwoHundredSilentClientsDoNotDelayAGoodOne) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}, "key", 2s};
  auto addr = l.address();
  std::vector<kin::unique_fd> silent;
  for (int i = 0; i < 200; ++i) silent.push_back(kin::detail::connect_to({addr.host, addr.port, {}}));
  auto t0 = clk::now();
  std::thread good([addr] { kin::Client<int>(addr, "key", 10s).send(9); });
  EXPECT_EQ(l.accept().recv(10s), 9);
  EXPECT_LT(clk::now() - t0, 2s) << "the good client waited for the silent ones";
  good.join();
  // All 200 are dropped at their deadline (the server closes them).
  for (auto& s : silent) EXPECT_TRUE(closed_by_peer_within(s.get(), 10s));
}

TEST(Listener, ADribblingClientIsDroppedAtTheHandshakeDeadline) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}, "key", 300ms};
  auto addr = l.address();
  auto c = kin::detail::connect_to({addr.host, addr.port, {}});
  // A length of 200 announced, then one byte every 700 ms: each read makes progress, the
  // handshake never does.
  std::atomic<bool> stop{false};
  std::thread dribble([&] {
    const std::uint8_t header[4] = {200, 0, 0, 0};
    for (int i = 0; i < 4 && !stop; ++i) {
      if (::send(c.get(), &header[i], 1, MSG_NOSIGNAL) != 1) return;
      for (int k = 0; k < 70 && !stop; ++k) std::this_thread::sleep_for(10ms);
    }
    for (int i = 0; i < 200 && !stop; ++i) {
      char b = 'x';
      if (::send(c.get(), &b, 1, MSG_NOSIGNAL) != 1) return;
      for (int k = 0; k < 70 && !stop; ++k) std::this_thread::sleep_for(10ms);
    }
  });
  auto t0 = clk::now();
  EXPECT_TRUE(closed_by_peer_within(c.get(), 5s));
  EXPECT_LT(clk::now() - t0, 3s) << "the 300 ms handshake was stretched by the dribbling client";
  stop = true;
  dribble.join();
}

TEST(Listener, DestroyingAListenerNeverWaitsForASlowClient) {
  auto l = std::make_unique<kin::Listener<int>>(kin::Address{"127.0.0.1", 0}, "key", 30s);
  auto addr = l->address();
  std::thread acceptor([&l] { EXPECT_THROW((void)l->accept(), kin::ValueError); });
  auto slow = kin::detail::connect_to({addr.host, addr.port, {}});
  const std::uint8_t one = 1;
  ASSERT_EQ(::send(slow.get(), &one, 1, MSG_NOSIGNAL), 1);  // a handshake in flight
  std::this_thread::sleep_for(200ms);
  auto t0 = clk::now();
  l->close();  // wakes the accept() in progress
  acceptor.join();
  l.reset();
  EXPECT_LT(clk::now() - t0, 2s);
  EXPECT_TRUE(closed_by_peer_within(slow.get(), 5s));
}

TEST(Client, ConnectAgainstAFullTcpBacklogIsBoundedByTheTimeout) {
  // A listening socket nobody accepts from, with the smallest backlog, filled up.
  kin::unique_fd server = kin::detail::listen_on({"127.0.0.1", 0, {}}, 0);
  auto addr = kin::detail::local_address(server.get(), {"127.0.0.1", 0, {}});
  std::vector<kin::unique_fd> fillers;
  for (int i = 0; i < 8; ++i) {
    kin::unique_fd s{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(addr.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    fillers.push_back(std::move(s));
  }
  std::this_thread::sleep_for(100ms);
  const kin::Address a{"127.0.0.1", addr.port};
  EXPECT_EQ(in_helper(
                [a] {
                  auto t0 = clk::now();
                  try {
                    (void)kin::Client<int>(a, "key", 500ms);
                    return 1;  // the backlog was not full after all: nothing tested
                  } catch (const kin::TimeoutError&) {
                    return clk::now() - t0 < 5s ? 0 : 2;
                  } catch (const std::exception&) {
                    return 3;
                  }
                },
                20s),
            0);
}

TEST(Client, ConnectAgainstAFullUnixBacklogIsBoundedByTheTimeout) {
  std::string path = "/tmp/kin_backlog_test_" + std::to_string(::getpid()) + ".sock";
  kin::unique_fd server = kin::detail::listen_on({{}, 0, path}, 0);
  std::vector<kin::unique_fd> fillers;
  for (int i = 0; i < 8; ++i) {
    kin::unique_fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno == EAGAIN) break;
    fillers.push_back(std::move(s));
  }
  const auto a = kin::Address::unix_path(path);
  int rc = in_helper(
      [a] {
        auto t0 = clk::now();
        try {
          (void)kin::Client<int>(a, "key", 500ms);
          return 1;
        } catch (const kin::TimeoutError&) {
          return clk::now() - t0 < 5s ? 0 : 2;
        } catch (const std::exception&) {
          return 3;
        }
      },
      20s);
  ::unlink(path.c_str());
  EXPECT_EQ(rc, 0);
}

TEST(Client, ASlowServerCannotStretchTheClientsTimeout) {
  // A server that accepts and dribbles a challenge one byte every 700 ms.
  kin::unique_fd server = kin::detail::listen_on({"127.0.0.1", 0, {}});
  auto addr = kin::detail::local_address(server.get(), {"127.0.0.1", 0, {}});
  std::atomic<bool> stop{false};
  std::thread slow([&] {
    pollfd p{server.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    kin::unique_fd c = kin::detail::accept_from(server.get());
    const std::uint8_t header[4] = {43, 0, 0, 0};  // "#CHALLENGE#" + 32-byte nonce
    for (int i = 0; i < 47 && !stop; ++i) {
      char b = i < 4 ? static_cast<char>(header[i]) : '#';
      if (::send(c.get(), &b, 1, MSG_NOSIGNAL) != 1) return;
      for (int k = 0; k < 70 && !stop; ++k) std::this_thread::sleep_for(10ms);
    }
  });
  const kin::Address a{"127.0.0.1", addr.port};
  auto t0 = clk::now();
  EXPECT_THROW((void)kin::Client<int>(a, "key", 300ms), kin::TimeoutError);
  EXPECT_LT(clk::now() - t0, 3s) << "the 300 ms timeout was stretched by a slow server";
  stop = true;
  slow.join();
}
