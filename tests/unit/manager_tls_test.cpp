// A remote kin::Manager over TLS (Manager::serve / Manager::connect with kin::TlsOptions): a CA
// and a server certificate for 127.0.0.1 are made for the suite with the openssl command; the
// server runs in a child. Round trips, pipelined calls and a proxy passed to a child work over
// TLS; a client trusting another CA, expecting another name, or with a wrong authkey is refused
// (AuthenticationError); a plaintext client is disconnected (ManagerLost, bounded) and the
// server serves TLS clients on; a TLS client meeting a plaintext server is AuthenticationError;
// the server SIGKILLed is ManagerLost.
#include <kin/manager.hpp>

#include <kin/errors.hpp>
#include <kin/pipe.hpp>
#include <kin/process.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

std::string g_dir;  // the suite's certificates

std::string file(const char* name) { return g_dir + "/" + name; }

int serve_tls(kin::Connection<kin::Address> ready, std::string key, std::string cert, std::string cert_key) {
  kin::Manager::serve(
      kin::Address{"127.0.0.1", 0}, key,
      [&](const kin::Address& a) {
        ready.send(a);
        ready.close();
      },
      std::size_t{64} << 20, kin::TlsOptions{.cert_file = cert, .key_file = cert_key});
  return 0;
}

int serve_plain(kin::Connection<kin::Address> ready, std::string key) {
  kin::Manager::serve(kin::Address{"127.0.0.1", 0}, key, [&](const kin::Address& a) {
    ready.send(a);
    ready.close();
  });
  return 0;
}

int child_adds(kin::DictProxy<std::string, long> d) {
  for (int i = 0; i < 10; ++i) d.add("n", 1);
  return d.get("n") >= 10 ? 0 : 1;
}

kin::TlsOptions trusting(const char* ca) { return kin::TlsOptions{.ca_file = file(ca)}; }

// In a child: floods the server with gets of a large value and never reads the replies, so
// the server's relay is writing to it when the parent kills it.
int flood_and_wait(kin::Address a, std::string ca, kin::Connection<int> started) {
  auto c = kin::Manager::connect(a, "key", std::nullopt, kin::TlsOptions{.ca_file = ca});
  auto d = c.dict<int, std::string>("big");
  std::vector<kin::ManagerFuture<std::string>> fs;
  for (int i = 0; i < 200; ++i) fs.push_back(d.get_async(1));
  d.flush();
  started.send(1);
  ::pause();  // killed here
  return 0;
}

}  // namespace

class ManagerTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = std::string("/tmp/kin-tls-test-").append(std::to_string(::getpid()));
    std::filesystem::create_directories(g_dir);
    // EC keys: quick to make. The server's certificate names 127.0.0.1 and localhost.
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string d = g_dir;
    const std::string script =
        "set -e; cd " + d + "; exec 2>openssl.log; "
        "openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 2 -subj /CN=kin-test-ca; "
        "openssl req -x509" + ec + "-keyout other.key -out other.pem -days 2 -subj /CN=kin-other-ca; "
        "openssl req" + ec + "-keyout server.key -out server.csr -subj /CN=localhost; "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf; "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf";
    made_ = std::system(("sh -c \"" + script + "\" >/dev/null").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(g_dir, ec);
  }
  void SetUp() override { ASSERT_TRUE(made_) << "openssl could not make the test certificates (see " << g_dir << "/openssl.log)"; }

  kin::Address start(bool tls = true) {
    auto [mine, theirs] = kin::Pipe<kin::Address>();
    if (tls) server_.emplace(serve_tls, theirs, std::string("key"), file("server.pem"), file("server.key"));
    else server_.emplace(serve_plain, theirs, std::string("key"));
    server_->start();
    theirs.close();
    auto a = mine.recv(20s);
    return a ? *a : kin::Address{};
  }
  void TearDown() override {
    if (server_ && server_->pid() > 0 && !server_->join(5s)) {
      server_->kill();
      server_->join();
    }
  }
  // Stops the server through a trusted client.
  void stop_server(const kin::Address& a) {
    auto c = kin::Manager::connect(a, "key", std::nullopt, trusting("ca.pem"));
    c.shutdown();
    ASSERT_TRUE(server_->join(10s));
  }

  static inline bool made_ = false;
  std::optional<kin::Process> server_;
};

TEST_F(ManagerTls, RoundTripsPipeliningAndAProxyInAChildWorkOverTls) {
  const auto a = start();
  ASSERT_GT(a.port, 0);
  {
    auto c = kin::Manager::connect(a, "key", std::nullopt, trusting("ca.pem"));
    auto d = c.dict<std::string, long>("shared");
    d.set("x", 41);
    EXPECT_EQ(d.add("x", 1), 42);
    std::string big(300'000, 'b');  // larger than a TLS record: split and joined again
    auto bd = c.dict<int, std::string>();
    bd.set(1, big);
    EXPECT_EQ(bd.get(1), big);
    std::vector<kin::ManagerFuture<long>> fs;
    for (int i = 0; i < 2000; ++i) fs.push_back(d.add_async("p", 1));
    for (int i = 0; i < 2000; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i + 1);
    kin::Process p{child_adds, d};  // the proxy carries the TLS files with it
    p.start();
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(d.get("n"), 10);
  }
  stop_server(a);
}

TEST_F(ManagerTls, AnotherCaAWrongNameOrAWrongKeyIsRefused) {
  const auto a = start();
  ASSERT_GT(a.port, 0);
  EXPECT_THROW((void)kin::Manager::connect(a, "key", 5000ms, trusting("other.pem")), kin::AuthenticationError);
  auto wrong_name = trusting("ca.pem");
  wrong_name.server_name = "db.example.org";
  EXPECT_THROW((void)kin::Manager::connect(a, "key", 5000ms, wrong_name), kin::AuthenticationError);
  EXPECT_THROW((void)kin::Manager::connect(a, "wrong key", 5000ms, trusting("ca.pem")), kin::AuthenticationError);
  auto by_name = trusting("ca.pem");
  by_name.server_name = "localhost";  // a name the certificate carries
  auto c = kin::Manager::connect(a, "key", 5000ms, by_name);
  EXPECT_EQ((c.dict<int, int>().size()), 0u);
  stop_server(a);
}

TEST_F(ManagerTls, APlaintextClientIsDisconnectedAndTlsClientsAreServedOn) {
  const auto a = start();
  ASSERT_GT(a.port, 0);
  const auto t0 = Clock::now();
  EXPECT_THROW((void)kin::Manager::connect(a, "key"), kin::ManagerLost);
  EXPECT_LT(Clock::now() - t0, 8s);  // the front closes a peer silent for 2 s; the client's own bound is 5 s
  auto c = kin::Manager::connect(a, "key", std::nullopt, trusting("ca.pem"));
  auto d = c.dict<int, int>();
  d.set(1, 1);
  EXPECT_EQ(d.get(1), 1);
  stop_server(a);
}

TEST_F(ManagerTls, ATlsClientMeetingAPlaintextServerIsAuthenticationError) {
  const auto a = start(false);
  ASSERT_GT(a.port, 0);
  EXPECT_THROW((void)kin::Manager::connect(a, "key", 5000ms, trusting("ca.pem")), kin::AuthenticationError);
  auto c = kin::Manager::connect(a, "key");
  c.shutdown();
  ASSERT_TRUE(server_->join(10s));
}

TEST_F(ManagerTls, AClientKilledWhileTheServerWritesToItLeavesTheServerServing) {
  const auto a = start();
  ASSERT_GT(a.port, 0);
  auto c = kin::Manager::connect(a, "key", std::nullopt, trusting("ca.pem"));
  auto d = c.dict<int, std::string>("big");
  d.set(1, std::string(1 << 20, 'x'));  // 200 replies of 1 MiB: more than any socket buffer
  auto [mine, theirs] = kin::Pipe<int>();
  kin::Process p{flood_and_wait, a, file("ca.pem"), theirs};
  p.start();
  theirs.close();
  ASSERT_TRUE(mine.recv(30s));
  std::this_thread::sleep_for(200ms);  // the server is writing, blocked on the full socket
  p.kill();
  ASSERT_TRUE(p.join(10s));
  std::this_thread::sleep_for(200ms);  // its relay meets the dead peer (a reset): that relay ends
  EXPECT_EQ(d.get(1).size(), std::size_t{1} << 20);  // the server lives and serves
  EXPECT_EQ(server_->exitcode(), std::nullopt);
  stop_server(a);
}

TEST_F(ManagerTls, ServerKilledIsManagerLostForCallsAndFutures) {
  const auto a = start();
  ASSERT_GT(a.port, 0);
  auto c = kin::Manager::connect(a, "key", std::nullopt, trusting("ca.pem"));
  auto d = c.dict<int, long>();
  d.set(1, 1);
  auto f = d.get_async(1);
  EXPECT_EQ(f.get(), 1);
  const pid_t pid = server_->pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(server_->join(10s));
  const auto t0 = Clock::now();
  EXPECT_THROW((void)d.get(1), kin::ManagerLost);
  EXPECT_LT(Clock::now() - t0, 5s);
}
