// kin::Node and kin::spawn_process(sys, kin::on(...), ...): nodes are real processes (this test
// binary in its node mode, DISABLED_NodeDaemon.Serve, or `kin node`), first on 127.0.0.1, then
// in three network namespaces joined by veth links that the test creates and removes itself.
#include <kin/node.hpp>  // first: the header is self-contained
#include <kin/spawn_process.hpp>

#include <kin/errors.hpp>
#include <kin/popen.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"
#include "test_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using pid_atom = caf::atom_constant<caf::atom("pid")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using total_atom = caf::atom_constant<caf::atom("total")>;

namespace {

const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

caf::behavior calculator(caf::event_based_actor*, int offset) {
  return {
      [=](int a, int b) { return a + b + offset; },
      [=](pid_atom) { return static_cast<std::int32_t>(::getpid()); },
  };
}
KIN_ENTRY(calculator);

caf::behavior not_an_entry(caf::event_based_actor*) {
  return {[](int x) { return x; }};
}

// The pipeline: producer -> doubler -> summer, each on another node.
caf::behavior producer(caf::event_based_actor* self, int count) {
  return {
      [=](go_atom, const caf::actor& next) {
        for (int i = 1; i <= count; ++i) self->send(next, i);
        return count;
      },
  };
}
KIN_ENTRY(producer);

caf::behavior doubler(caf::event_based_actor* self) {
  auto next = std::make_shared<caf::actor>();
  return {
      [=](next_atom, const caf::actor& n) { *next = n; },
      [=](int x) {
        if (*next) self->send(*next, 2 * x);
      },
  };
}
KIN_ENTRY(doubler);

caf::behavior summer(caf::event_based_actor*) {
  auto n = std::make_shared<std::int32_t>(0);
  auto sum = std::make_shared<std::int64_t>(0);
  return {
      [=](int x) {
        ++*n;
        *sum += x;
      },
      [=](total_atom) { return caf::make_message(*n, *sum); },
  };
}
KIN_ENTRY(summer);

const std::string kKey = "node-test-authkey-0123456789";

std::string self_exe() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string read_file(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A node process: this binary's DISABLED_NodeDaemon.Serve (it has the entries above), in a
// network namespace when `netns` is set. It writes its address to a file once it listens.
struct NodeProcess {
  kin::testing::TempDir dir;
  std::optional<kin::Popen> proc;
  std::string address;

  NodeProcess(const std::string& listen, const std::string& netns = {}, const std::string& method = {}) {
    std::vector<std::string> argv;
    if (!netns.empty()) argv = {"ip", "netns", "exec", netns};
    argv.push_back(self_exe());
    argv.push_back("--gtest_filter=DISABLED_NodeDaemon.Serve");
    argv.push_back("--gtest_also_run_disabled_tests");
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    env["KIN_NODE_TEST_LISTEN"] = listen;
    env["KIN_NODE_TEST_KEY"] = kKey;
    if (!method.empty()) env["KIN_NODE_TEST_METHOD"] = method;
    env["KIN_NODE_TEST_ADDRFILE"] = dir / "addr";
    proc.emplace(argv, kin::PopenOptions{.stdout_ = kin::Stdio::devnull, .env = env});
    auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
      address = read_file(dir / "addr");
      if (!address.empty() || proc->poll()) break;
      std::this_thread::sleep_for(10ms);
    }
    if (address.empty()) {
      if (!proc->poll()) proc->kill();
      proc->wait();
      throw std::runtime_error("node " + listen + " did not start");
    }
  }
  void kill() {
    if (!proc->poll()) proc->kill();
    proc->wait();
  }
  ~NodeProcess() {
    if (proc->poll()) return;
    proc->terminate();
    try {
      proc->wait(10s);
    } catch (const kin::TimeoutError&) {
      proc->kill();
      proc->wait();
    }
  }
};

kin::ActorSystem make_system() { return kin::ActorSystem{kin::ActorSystemOptions{.network = true}}; }

// Waits for the down message of `a`; nullopt when none came within `limit`.
std::optional<caf::error> await_down(caf::scoped_actor& self, const caf::actor& a, std::chrono::milliseconds limit) {
  std::optional<caf::error> reason;
  self->receive([&](caf::down_msg& dm) {
                  if (dm.source == a.address()) reason = dm.reason;
                },
                caf::after(limit) >> [] {});
  return reason;
}

}  // namespace

// Not a test: the node mode of this binary (NodeProcess starts it). Disabled, so a normal run
// never executes it.
TEST(DISABLED_NodeDaemon, Serve) {
  const char* listen = std::getenv("KIN_NODE_TEST_LISTEN");
  const char* key = std::getenv("KIN_NODE_TEST_KEY");
  const char* addrfile = std::getenv("KIN_NODE_TEST_ADDRFILE");
  if (listen == nullptr || key == nullptr || addrfile == nullptr) GTEST_SKIP() << "only run by NodeProcess";
  // KIN_NODE_TEST_METHOD=fork: the node forks its processes itself (they inherit its SIGTERM
  // handler); else the forkserver, which forks from its own one thread.
  const char* method = std::getenv("KIN_NODE_TEST_METHOD");
  kin::set_start_method(method != nullptr && std::string(method) == "fork" ? kin::StartMethod::fork
                                                                            : kin::StartMethod::forkserver);
  kin::Node node{kin::NodeOptions{.listen = listen, .authkey = key}};
  {
    std::string tmp = std::string(addrfile) + ".tmp";
    std::ofstream(tmp) << node.address();
    ::rename(tmp.c_str(), addrfile);
  }
  node.wait_for_signal();
}

TEST(Node, SpawnAndTalkOnLoopback) {
  NodeProcess node{"127.0.0.1:0"};
  auto sys = make_system();
  caf::scoped_actor self{sys};
  caf::actor calc = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 10);
  int r = 0;
  self->request(calc, 10s, 1, 2).receive([&](int x) { r = x; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_EQ(r, 13);
  // A second actor on the same node rides the same connection.
  caf::actor calc2 = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 100);
  std::int32_t pid1 = 0, pid2 = 0;
  self->request(calc, 10s, pid_atom::value).receive([&](std::int32_t p) { pid1 = p; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  self->request(calc2, 10s, pid_atom::value).receive([&](std::int32_t p) { pid2 = p; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_GT(pid1, 0);
  EXPECT_GT(pid2, 0);
  EXPECT_NE(pid1, pid2);
  EXPECT_NE(pid1, ::getpid());
  // Exit of the remote process: the monitor's reason carries its ExitStatus.
  self->monitor(calc);
  caf::anon_send_exit(calc, caf::exit_reason::user_shutdown);
  auto reason = await_down(self, calc, 10s);
  ASSERT_TRUE(reason.has_value());
  ASSERT_TRUE(kin::exit_status(*reason).has_value()) << sys.render(*reason);
  EXPECT_EQ(kin::describe(*reason), "killed by SIGTERM");
}

TEST(Node, ExitOfAProcessForkedByTheNodeIsItsSigterm) {
  // Forked by the node itself, the child inherits the node's SIGTERM handler: SIGTERM must
  // still end the child (not stop the node), and the node keeps serving.
  if (kin::testing::threaded_fork_method() != kin::StartMethod::fork) GTEST_SKIP() << "fork beside threads (sanitizer_limits.hpp)";
  NodeProcess node{"127.0.0.1:0", {}, "fork"};
  auto sys = make_system();
  caf::scoped_actor self{sys};
  caf::actor calc = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 0);
  self->request(calc, 10s, 1, 1).receive([](int) {}, [&](caf::error& e) { FAIL() << sys.render(e); });
  self->monitor(calc);
  caf::anon_send_exit(calc, caf::exit_reason::user_shutdown);
  auto reason = await_down(self, calc, 10s);
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(kin::describe(*reason), "killed by SIGTERM");
  caf::actor again = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 1);
  int r = 0;
  self->request(again, 10s, 1, 1).receive([&](int x) { r = x; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_EQ(r, 3);
  EXPECT_FALSE(node.proc->poll().has_value()) << "the node stopped";
}

TEST(Node, RemoteProcessSigkilledIsADownWithItsStatus) {
  NodeProcess node{"127.0.0.1:0"};
  auto sys = make_system();
  caf::scoped_actor self{sys};
  caf::actor calc = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 0);
  std::int32_t pid = 0;
  self->request(calc, 10s, pid_atom::value).receive([&](std::int32_t p) { pid = p; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  ASSERT_GT(pid, 0);
  self->monitor(calc);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto reason = await_down(self, calc, 10s);
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(kin::describe(*reason), "killed by SIGKILL");
  ASSERT_TRUE(kin::exit_status(*reason).has_value());
  EXPECT_EQ(kin::exit_status(*reason)->signal(), SIGKILL);
  EXPECT_FALSE(kin::node_lost(*reason));
}

TEST(Node, NodeKilledIsADownWithTheNodeLostReason) {
  NodeProcess node{"127.0.0.1:0"};
  auto sys = make_system();
  caf::scoped_actor self{sys};
  caf::actor calc = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 0);
  self->request(calc, 10s, 1, 1).receive([](int) {}, [&](caf::error& e) { FAIL() << sys.render(e); });
  self->monitor(calc);
  auto t0 = std::chrono::steady_clock::now();
  node.kill();
  auto reason = await_down(self, calc, kin::kNodeLossBound + 5s);
  ASSERT_TRUE(reason.has_value()) << "no down message within the bound";
  EXPECT_TRUE(kin::node_lost(*reason)) << sys.render(*reason);
  EXPECT_FALSE(kin::exit_status(*reason).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kin::kNodeLossBound);
  // CAF drops a message to the proxy of a lost node: a request ends by its own timeout, and
  // a new monitor gets the down message at once.
  std::string failure;
  self->request(calc, 1s, 1, 1).receive([](int) {}, [&](caf::error& e) { failure = sys.render(e); });
  EXPECT_NE(failure.find("request_timeout"), std::string::npos) << failure;
  self->monitor(calc);
  auto again = await_down(self, calc, 1s);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(kin::node_lost(*again));
}

TEST(Node, APeersProcessesEndWithItsSystem) {
  NodeProcess node{"127.0.0.1:0"};
  std::int32_t pid = 0;
  {
    auto sys = make_system();
    caf::scoped_actor self{sys};
    caf::actor calc = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 0);
    self->request(calc, 10s, pid_atom::value).receive([&](std::int32_t p) { pid = p; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  }
  ASSERT_GT(pid, 0);
  // The node saw the peer's keeper go down and stopped the process (its forkserver reaps it).
  auto until = std::chrono::steady_clock::now() + 10s;
  while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_NE(::kill(pid, 0), 0) << "the peer's process outlived the peer's system";
}

TEST(Node, WrongAuthkeyIsRefusedAndTheNodeKeepsServing) {
  NodeProcess node{"127.0.0.1:0"};
  auto sys = make_system();
  EXPECT_THROW(kin::spawn_process(sys, kin::on(node.address, "not-the-key"), calculator, 0), kin::AuthenticationError);
  caf::scoped_actor self{sys};
  caf::actor calc = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 1);
  int r = 0;
  self->request(calc, 10s, 1, 1).receive([&](int x) { r = x; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_EQ(r, 3);
}

TEST(Node, PlainBaspClientIsRefusedAndTheNodeKeepsServing) {
  NodeProcess node{"127.0.0.1:0"};
  auto colon = node.address.rfind(':');
  auto port = static_cast<std::uint16_t>(std::stoi(node.address.substr(colon + 1)));
  // A CAF program that skips kin's handshake: its BASP handshake is not a kin frame, so the
  // node drops the connection and CAF's remote_actor fails. In a child, bounded by a join.
  kin::Process client{kin::ProcessOptions{.start_method = kin::StartMethod::fork}, [port]() -> int {
                        caf::actor_system_config cfg;
                        cfg.set("logger.verbosity", caf::atom("quiet"));
                        cfg.load<caf::io::middleman>();
                        caf::actor_system csys{cfg};
                        auto r = csys.middleman().remote_actor("127.0.0.1", port);
                        ::_exit(r ? 1 : 0);
                      }};
  client.start();
  if (!client.join(30s)) {
    client.kill();
    client.join();
    FAIL() << "the plain BASP client hung";
  }
  EXPECT_EQ(client.exitcode(), 0) << "a plain BASP client got an actor from the node";
  auto sys = make_system();
  caf::scoped_actor self{sys};
  caf::actor calc = kin::spawn_process(sys, kin::on(node.address, kKey), calculator, 5);
  int r = 0;
  self->request(calc, 10s, 1, 1).receive([&](int x) { r = x; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_EQ(r, 7);
}

TEST(Node, OnlyKinEntriesStart) {
  NodeProcess node{"127.0.0.1:0"};
  auto sys = make_system();
  EXPECT_THROW(kin::spawn_process(sys, kin::on(node.address, kKey), not_an_entry), kin::StartMethodError);
  // A system without the middleman says what is missing.
  kin::ActorSystem local;
  EXPECT_THROW(kin::spawn_process(local, kin::on(node.address, kKey), calculator, 0), kin::ValueError);
}

TEST(Node, NoNodeListeningIsAnOSError) {
  // A port nobody listens on: bound, then closed.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  auto sys = make_system();
  EXPECT_THROW(kin::spawn_process(sys, kin::on("127.0.0.1:" + std::to_string(ntohs(a.sin_port)), kKey), calculator, 0),
               kin::OSError);
}

#ifdef KIN_CLI_PATH
TEST(Node, KinNodeCommandServesOnlyItsOwnEntries) {
  kin::testing::TempDir dir;
  std::ofstream(dir / "key") << kKey << "\n";
  kin::Popen cli{{KIN_CLI_PATH, "node", "--listen", "127.0.0.1:0", "--authkey-file", dir / "key"},
                 {.stdout_ = kin::pipe}};
  // First line: "kin node listening on HOST:PORT".
  std::string line;
  char c = 0;
  auto until = std::chrono::steady_clock::now() + 20s;
  int fd = cli.stdout_fd();
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  while (std::chrono::steady_clock::now() < until) {
    auto n = ::read(fd, &c, 1);
    if (n == 1) {
      if (c == '\n') break;
      line += c;
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  auto at = line.rfind(' ');
  ASSERT_NE(at, std::string::npos) << line;
  std::string address = line.substr(at + 1);
  auto sys = make_system();
  EXPECT_THROW(kin::spawn_process(sys, kin::on(address, "wrong"), calculator, 0), kin::AuthenticationError);
  try {
    kin::spawn_process(sys, kin::on(address, kKey), calculator, 0);
    ADD_FAILURE() << "kin node started an entry it does not have";
  } catch (const kin::StartMethodError& e) {
    EXPECT_NE(std::string(e.what()).find("no KIN_ENTRY named 'calculator'"), std::string::npos) << e.what();
  }
  cli.terminate();
  EXPECT_EQ(cli.wait(10s), 0);
}
#endif

// ---- three hosts: network namespaces joined by veth links -------------------------------------

namespace {

// Runs a shell command; its exit status and what it printed.
std::pair<int, std::string> sh(const std::string& cmd) {
  kin::Popen p{{"sh", "-c", cmd}, {.stdout_ = kin::pipe, .stderr_ = kin::Stdio::stdout_}};
  auto r = p.communicate({}, 30s);
  return {p.wait(), r.out};
}

// Namespaces a, b, c (named after this pid, so runs beside each other do not meet), each with
// its loopback up, and a veth link between every two: a-b 10.201.1.0/24, b-c 10.201.2.0/24,
// a-c 10.201.3.0/24 (host a is .1, b .2, c .3). The addresses exist only inside the namespaces.
// The destructor deletes the namespaces, and with them the links, whatever happened.
struct ThreeHosts {
  std::string tag = std::to_string(::getpid() % 100000);
  std::vector<std::string> made;
  std::string error;

  std::string ns(char h) const { return "kin" + tag + h; }
  std::string dev(char from, char to) const { return "k" + tag + from + to; }
  static std::string ip(char h, int net) { return "10.201." + std::to_string(net) + "." + std::to_string(h - 'a' + 1); }

  bool run(const std::string& cmd) {
    auto [rc, out] = sh(cmd);
    if (rc != 0 && error.empty()) error = cmd + ": " + out;
    return rc == 0;
  }
  ThreeHosts() {
    for (char h : {'a', 'b', 'c'}) {
      if (!run("ip netns add " + ns(h))) return;
      made.push_back(ns(h));
      if (!run("ip -n " + ns(h) + " link set lo up")) return;
    }
    const struct {
      char x, y;
      int net;
    } links[] = {{'a', 'b', 1}, {'b', 'c', 2}, {'a', 'c', 3}};
    for (const auto& l : links) {
      if (!run("ip link add " + dev(l.x, l.y) + " netns " + ns(l.x) + " type veth peer name " + dev(l.y, l.x) +
               " netns " + ns(l.y)))
        return;
      for (auto [h, d] : {std::pair{l.x, dev(l.x, l.y)}, std::pair{l.y, dev(l.y, l.x)}})
        if (!run("ip -n " + ns(h) + " addr add " + ip(h, l.net) + "/24 dev " + d) ||
            !run("ip -n " + ns(h) + " link set " + d + " up"))
          return;
    }
  }
  ~ThreeHosts() {
    for (auto& n : made) sh("ip netns del " + n);
  }
  ThreeHosts(const ThreeHosts&) = delete;
  ThreeHosts& operator=(const ThreeHosts&) = delete;
};

// The calling thread (and the threads it starts afterwards: an actor system's) lives in
// namespace `name` while this exists.
struct InNetns {
  int home = -1;
  explicit InNetns(const std::string& name) {
    home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (home < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      int e = errno;
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("setns " + name + ": " + std::strerror(e));
    }
    ::close(fd);
  }
  ~InNetns() {
    ::setns(home, CLONE_NEWNET);
    ::close(home);
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;
};

class NodeNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    hosts_.emplace();
    if (!hosts_->error.empty()) GTEST_SKIP() << "cannot create network namespaces here: " << hosts_->error;
    // Each host runs a node on its own addresses; the driver (this test) lives on host a.
    node_a_.emplace(ThreeHosts::ip('a', 1) + ":0", hosts_->ns('a'));
    node_b_.emplace(ThreeHosts::ip('b', 1) + ":0", hosts_->ns('b'));
    node_c_.emplace(ThreeHosts::ip('c', 3) + ":0", hosts_->ns('c'));
    in_a_.emplace(hosts_->ns('a'));
  }
  void TearDown() override {
    in_a_.reset();
    node_a_.reset();
    node_b_.reset();
    node_c_.reset();
    hosts_.reset();
  }
  std::optional<ThreeHosts> hosts_;
  std::optional<NodeProcess> node_a_, node_b_, node_c_;
  std::optional<InNetns> in_a_;
};

}  // namespace

TEST_F(NodeNetns, SpawnAcrossHosts) {
  auto sys = make_system();
  caf::scoped_actor self{sys};
  int base = 0;
  for (auto* node : {&*node_a_, &*node_b_, &*node_c_}) {
    caf::actor calc = kin::spawn_process(sys, kin::on(node->address, kKey), calculator, base);
    int r = -1;
    self->request(calc, 10s, 1, 2).receive([&](int x) { r = x; }, [&](caf::error& e) { FAIL() << sys.render(e); });
    EXPECT_EQ(r, 3 + base) << node->address;
    base += 100;
  }
}

TEST_F(NodeNetns, PipelineAcrossThreeHosts) {
  auto sys = make_system();
  caf::scoped_actor self{sys};
  // Every item crosses BASP twice and kin's channels twice; TSan makes that ~10x slower.
  constexpr int kItems = kin::testing::tsan ? 300 : 2000;
  caf::actor prod = kin::spawn_process(sys, kin::on(node_a_->address, kKey), producer, kItems);
  caf::actor twice = kin::spawn_process(sys, kin::on(node_b_->address, kKey), doubler);
  caf::actor sum = kin::spawn_process(sys, kin::on(node_c_->address, kKey), summer);
  self->send(twice, next_atom::value, sum);
  int sent = 0;
  self->request(prod, 60s, go_atom::value, twice).receive([&](int n) { sent = n; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  ASSERT_EQ(sent, kItems);
  std::int32_t n = 0;
  std::int64_t total = 0;
  auto until = std::chrono::steady_clock::now() + 60s;
  while (n < kItems && std::chrono::steady_clock::now() < until) {
    self->request(sum, 10s, total_atom::value)
        .receive(
            [&](std::int32_t c, std::int64_t s) {
              n = c;
              total = s;
            },
            [&](caf::error& e) { FAIL() << sys.render(e); });
    if (n < kItems) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(n, kItems);
  EXPECT_EQ(total, std::int64_t{kItems} * (kItems + 1));  // 2 * (1 + ... + kItems)
}

TEST_F(NodeNetns, LinkDownMidTrafficIsADownWithinTheBound) {
  auto sys = make_system();
  caf::scoped_actor self{sys};
  caf::actor calc = kin::spawn_process(sys, kin::on(node_b_->address, kKey), calculator, 0);
  caf::actor near = kin::spawn_process(sys, kin::on(node_c_->address, kKey), calculator, 0);
  self->monitor(calc);
  self->monitor(near);
  // Traffic first, then the a-b link goes down under a stream of requests.
  for (int i = 0; i < 100; ++i) self->request(calc, 10s, i, i).receive([](int) {}, [&](caf::error& e) { FAIL() << sys.render(e); });
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(hosts_->run("ip -n " + hosts_->ns('b') + " link set " + hosts_->dev('b', 'a') + " down")) << hosts_->error;
  std::optional<caf::error> reason;
  int answered = 0, failed = 0;
  while (!reason && std::chrono::steady_clock::now() - t0 < kin::kNodeLossBound + 5s) {
    self->request(calc, 500ms, 1, 1).receive([&](int) { ++answered; }, [&](caf::error&) { ++failed; });
    self->receive([&](caf::down_msg& dm) {
                    if (dm.source == calc.address()) reason = dm.reason;
                    else ADD_FAILURE() << "an actor on a host with a working link went down";
                  },
                  caf::after(std::chrono::milliseconds(0)) >> [] {});
  }
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(reason.has_value()) << "no down message " << (kin::kNodeLossBound + 5s).count() << " ms after the link went down";
  EXPECT_TRUE(kin::node_lost(*reason)) << sys.render(*reason);
  EXPECT_LT(took, kin::kNodeLossBound) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_GT(failed, 0);
  // The host whose link is up still serves.
  int r = 0;
  self->request(near, 10s, 20, 22).receive([&](int x) { r = x; }, [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_EQ(r, 42);
  std::fprintf(stderr, "link down: node_lost after %lld ms (%d requests answered, %d failed meanwhile)\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()), answered, failed);
}
