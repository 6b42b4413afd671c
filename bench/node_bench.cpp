// kin.remote.actor.rtt: request/response with a process actor on a kin::Node on another host —
// two network namespaces joined by a veth link when this runs as root (the namespaces are
// made and removed here), else 127.0.0.1. In the same run, beside it, plain CAF BASP over TCP
// between the same two places (an actor published with CAF's own doorman, no kin in the path):
// printed as a "# caf.basp.tcp.rtt" comment, since a kin program prints only kin.* figures.
//
//   node_bench                 the figures
//   node_bench node HOST:PORT  the node (this program: it has the echo entry)
//   node_bench caf HOST        the plain CAF peer (publishes an echo actor, prints its port)
#include "bench_util.hpp"

#include <kin/actors.hpp>
#include <kin/init.hpp>
#include <kin/node.hpp>
#include <kin/popen.hpp>

#include <caf/io/all.hpp>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace {

const std::string kKey = "node-bench-key";

caf::behavior echo(caf::event_based_actor*) {
  return {[](std::int32_t x) { return x; }};
}
KIN_ENTRY(echo);

std::string self_exe() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

bool sh(const std::string& cmd) {
  kin::Popen p{{"sh", "-c", cmd + " >/dev/null 2>&1"}};
  return p.wait() == 0;
}

std::string first_line(kin::Popen& p) {
  std::string line;
  char c = 0;
  while (::read(p.stdout_fd(), &c, 1) == 1 && c != '\n') line += c;
  return line;
}

template <class Send>
double median_rtt_us(long rounds, Send send) {
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rounds));
  for (long i = 0; i < rounds; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!send(static_cast<std::int32_t>(i))) return -1;
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return kin::bench::median(us);
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  if (argc > 2 && std::string(argv[1]) == "node") {
    kin::set_start_method(kin::StartMethod::forkserver);
    kin::Node node{kin::NodeOptions{.listen = argv[2], .authkey = kKey}};
    std::printf("%s\n", node.address().c_str());
    std::fflush(stdout);
    node.wait_for_signal();
    return 0;
  }
  if (argc > 2 && std::string(argv[1]) == "caf") {
    caf::actor_system_config cfg;
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.set("scheduler.max-threads", 2);
    cfg.load<caf::io::middleman>();
    caf::actor_system sys{cfg};
    auto a = sys.spawn(echo);
    auto port = sys.middleman().publish(a, 0, argv[2]);
    if (!port) return 1;
    std::printf("%u\n", static_cast<unsigned>(*port));
    std::fflush(stdout);
    char c;
    while (::read(0, &c, 1) > 0) {
    }  // until the parent closes stdin
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    return 0;
  }
  if (!kin::bench::enabled("kin.remote.actor.rtt")) return 0;

  // Two hosts: namespaces a and b, 10.202.0.1 and .2, when possible.
  std::string tag = std::to_string(::getpid() % 100000);
  std::string nsa = "kinb" + tag + "a", nsb = "kinb" + tag + "b";
  bool netns = ::geteuid() == 0 && sh("ip netns add " + nsa) && sh("ip netns add " + nsb) &&
               sh("ip link add kb" + tag + "a netns " + nsa + " type veth peer name kb" + tag + "b netns " + nsb) &&
               sh("ip -n " + nsa + " addr add 10.202.0.1/24 dev kb" + tag + "a") &&
               sh("ip -n " + nsb + " addr add 10.202.0.2/24 dev kb" + tag + "b") &&
               sh("ip -n " + nsa + " link set kb" + tag + "a up") && sh("ip -n " + nsb + " link set kb" + tag + "b up");
  std::string host = netns ? "10.202.0.2" : "127.0.0.1";
  std::vector<std::string> prefix;
  if (netns) prefix = {"ip", "netns", "exec", nsb};
  auto with_prefix = [&](std::vector<std::string> args) {
    args.insert(args.begin(), prefix.begin(), prefix.end());
    return args;
  };
  long rounds = kin::bench::scaled(5000, 50);
  int rc = 0;
  {
    kin::Popen node{with_prefix({self_exe(), "node", host + ":0"}), {.stdout_ = kin::pipe}};
    kin::Popen peer{with_prefix({self_exe(), "caf", host}), {.stdin_ = kin::pipe, .stdout_ = kin::pipe}};
    std::string node_addr = first_line(node), caf_port = first_line(peer);
    int home = -1;
    if (netns) {  // the driver on host a
      home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      int fd = ::open(("/run/netns/" + nsa).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) rc = 1;
      if (fd >= 0) ::close(fd);
    }
    if (rc == 0 && !node_addr.empty() && !caf_port.empty()) {
      kin::ActorSystem sys{kin::ActorSystemOptions{.network = true}};
      caf::scoped_actor self{sys};
      caf::actor remote = kin::spawn_process(sys, kin::on(node_addr, kKey), echo);
      auto ask = [&](const caf::actor& a) {
        return [&self, a](std::int32_t i) {
          bool ok = false;
          self->request(a, std::chrono::seconds(10), i).receive([&](std::int32_t r) { ok = r == i; }, [](caf::error&) {});
          return ok;
        };
      };
      median_rtt_us(rounds / 10, ask(remote));  // warm-up
      double kin_us = median_rtt_us(rounds, ask(remote));
      auto plain = sys.middleman().remote_actor(host, static_cast<std::uint16_t>(std::stoi(caf_port)));
      double caf_us = -1;
      if (plain) {
        median_rtt_us(rounds / 10, ask(*plain));
        caf_us = median_rtt_us(rounds, ask(*plain));
      }
      if (kin_us > 0) kin::bench::emit("kin.remote.actor.rtt", kin_us, "us");
      else rc = 1;
      std::printf("# caf.basp.tcp.rtt value=%.6g unit=us (plain CAF BASP, same %s, same run)\n", caf_us,
                  netns ? "two network namespaces" : "loopback");
      caf::anon_send_exit(remote, caf::exit_reason::user_shutdown);
    } else {
      rc = 1;
    }
    if (home >= 0) {
      ::setns(home, CLONE_NEWNET);
      ::close(home);
    }
    peer.close_stdin();
    node.terminate();
    peer.wait();
    node.wait();
  }
  if (netns || ::geteuid() == 0) {
    sh("ip netns del " + nsa);
    sh("ip netns del " + nsb);
  }
  return rc;
}
