// The producer/consumer program of actor_producer_consumer.cpp with its parsers on three
// nodes: a reader (a thread actor here) produces lines "producer-K : VALUE", parser process
// actors started on the nodes with kin::spawn_process(sys, kin::on(node, key), parser) turn a
// line into (name, value), and an aggregator (a thread actor here) sums the values.
//
//   distributed_producer_consumer [lines=20000]             # starts 3 nodes on 127.0.0.1 itself
//   distributed_producer_consumer [lines] HOST:PORT...      # uses running nodes (same key)
//   distributed_producer_consumer node HOST:PORT            # a node of this program
//
// The key is $KIN_NODE_AUTHKEY, or this process's random authkey for the nodes it starts.
// A node is this same program (it has the parser entry): docs/distribution.md.
#include <kin/actors.hpp>
#include <kin/current_process.hpp>
#include <kin/init.hpp>
#include <kin/node.hpp>
#include <kin/popen.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using start_atom = caf::atom_constant<caf::atom("start")>;
using get_atom = caf::get_atom;

// On a node: "producer-3 : 42" -> ("producer-3", 42).
caf::behavior parser(caf::event_based_actor*) {
  return {[](const std::string& line) -> caf::result<std::string, std::int64_t> {
    auto colon = line.find(" : ");
    if (colon == std::string::npos) return caf::make_error(caf::sec::invalid_argument, "no ' : ' in " + line);
    return {line.substr(0, colon), std::stoll(line.substr(colon + 3))};
  }};
}
KIN_ENTRY(parser);

int run_node(const std::string& listen, const std::string& key) {
  kin::set_start_method(kin::StartMethod::forkserver);
  kin::Node node{kin::NodeOptions{.listen = listen, .authkey = key}};
  std::printf("%s\n", node.address().c_str());  // the parent reads the address from here
  std::fflush(stdout);
  node.wait_for_signal();
  return 0;
}

// Starts a node of this program on 127.0.0.1 and returns its address (its first line).
std::string start_local_node(std::vector<kin::Popen>& nodes, const std::string& key) {
  char exe[4096];
  auto n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw std::runtime_error("readlink /proc/self/exe");
  ::setenv("KIN_NODE_AUTHKEY", key.c_str(), 1);
  nodes.emplace_back(std::vector<std::string>{std::string(exe, static_cast<std::size_t>(n)), "node", "127.0.0.1:0"},
                     kin::PopenOptions{.stdout_ = kin::pipe});
  std::string line;
  char c = 0;
  while (::read(nodes.back().stdout_fd(), &c, 1) == 1 && c != '\n') line += c;
  if (line.empty()) throw std::runtime_error("a node did not start");
  return line;
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  const char* env_key = std::getenv("KIN_NODE_AUTHKEY");
  std::string key = env_key != nullptr ? env_key : kin::current_process().authkey;
  if (argc > 2 && std::string(argv[1]) == "node") return run_node(argv[2], key);

  std::int64_t lines = argc > 1 ? std::atoll(argv[1]) : 20000;
  std::vector<std::string> addresses(argv + std::min(argc, 2), argv + argc);
  std::vector<kin::Popen> nodes;  // the nodes this run started itself
  if (addresses.empty())
    for (int i = 0; i < 3; ++i) addresses.push_back(start_local_node(nodes, key));

  int rc = 0;
  {
    kin::ActorSystem sys{kin::ActorSystemOptions{.network = true}};
    caf::scoped_actor self{sys};
    std::vector<caf::actor> parsers;
    for (auto& a : addresses) parsers.push_back(kin::spawn_process(sys, kin::on(a, key), parser));
    for (auto& p : parsers) self->monitor(p);

    // The reader sends each line to the parsers in turn and waits for its answer; the
    // aggregator sums per producer.
    std::map<std::string, std::int64_t> sums;
    std::int64_t sent = 0, answered = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto send_one = [&] {
      std::int64_t i = sent++;
      std::string line = "producer-" + std::to_string(i % 4) + " : " + std::to_string(i % 11);
      self->request(parsers[static_cast<std::size_t>(i) % parsers.size()], std::chrono::seconds(30), line)
          .receive(
              [&](const std::string& name, std::int64_t value) {
                sums[name] += value;
                ++answered;
              },
              [&](caf::error& e) {
                std::printf("parser failed: %s\n", kin::describe(e).c_str());
                rc = 1;
              });
    };
    while (sent < lines && rc == 0) send_one();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%lld lines parsed on %zu nodes in %.2f s: %.0f lines/s\n", static_cast<long long>(answered),
                addresses.size(), s, static_cast<double>(answered) / s);
    for (auto& [name, sum] : sums) std::printf("  %s: %lld\n", name.c_str(), static_cast<long long>(sum));
    for (auto& p : parsers) caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  }
  for (auto& n : nodes) {
    n.terminate();
    n.wait();
  }
  return rc;
}
