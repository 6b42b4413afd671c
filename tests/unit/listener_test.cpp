#include <kin/listener.hpp>  // first: the header is self-contained

#include <kin/process.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

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
