// `kin node --listen HOST:PORT --authkey-file F`: a kin::Node (actors/include/kin/node.hpp) in
// the foreground until SIGTERM or SIGINT. It starts only the KIN_ENTRY functions linked into
// this binary; a node for your own actor functions is your program running kin::Node
// (docs/distribution.md). Prints "kin node listening on HOST:PORT" once it accepts peers.
#include "node.hpp"

#include <kin/errors.hpp>
#include <kin/node.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace kin::cli {

namespace {

struct NodeArgs {
  std::string listen;
  std::string authkey_file;
};

int run_node(const NodeArgs& a) {
  std::ifstream f{a.authkey_file, std::ios::binary};
  if (!f) {
    std::fprintf(stderr, "kin node: cannot read the authkey file %s\n", a.authkey_file.c_str());
    return 2;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.empty()) {
    std::fprintf(stderr, "kin node: the authkey file %s is empty\n", a.authkey_file.c_str());
    return 2;
  }
  try {
    kin::Node node{kin::NodeOptions{.listen = a.listen, .authkey = key}};
    std::printf("kin node listening on %s\n", node.address().c_str());
    std::fflush(stdout);
    int sig = node.wait_for_signal();
    std::fprintf(stderr, "kin node: signal %d, stopping\n", sig);
  } catch (const kin::Error& e) {
    std::fprintf(stderr, "kin node: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

std::function<int()> add_node(CLI::App& app) {
  auto args = std::make_shared<NodeArgs>();
  auto* cmd = app.add_subcommand("node", "run a node that starts process actors for authenticated peers");
  cmd->add_option("--listen", args->listen, "HOST:PORT to listen on (port 0: any)")->required();
  cmd->add_option("--authkey-file", args->authkey_file, "file holding the authkey peers must prove")->required();
  return [cmd, args]() -> int { return *cmd ? run_node(*args) : -1; };
}

}  // namespace kin::cli
