// kin::Node: a node daemon that starts process actors for authenticated peers on other hosts,
// and kin::on(address, authkey), the place a spawn_process call names to start one there.
//
//   // on host B (the same program as on host A: it has the same KIN_ENTRY functions)
//   kin::Node node{kin::NodeOptions{.listen = "0.0.0.0:7000", .authkey = key}};
//   node.wait_for_signal();                                  // until SIGTERM or SIGINT
//
//   // on host A
//   KIN_ENTRY(calculator);                                   // caf::behavior calculator(self, int)
//   kin::ActorSystem sys{kin::ActorSystemOptions{.network = true}};
//   caf::actor calc = kin::spawn_process(sys, kin::on("hostb:7000", key), calculator, 10);
//   self->request(calc, 1s, 1, 2).receive(...);              // an ordinary caf::actor
//   self->monitor(calc);  // down: kin::exit_status(reason), or kin::node_lost(reason)
//
// A peer first passes kin's authkey handshake (HMAC-SHA256 challenge both ways, auth.hpp, run
// by runtime/listener_core.hpp within `handshake_timeout`); only then is the socket handed to
// CAF's middleman (BASP). A wrong key, a plain BASP client or a silent one is dropped before
// CAF decodes a byte of it. The node starts only functions registered with KIN_ENTRY, with the
// argument types of a kin::spawn_process(sys, kin::on(...), fn, ...) call compiled into the
// node's program: the node and its peers run the same build (BASP's format is unversioned,
// G10). A process started for a peer belongs to it: when the peer's actor system ends or its
// connection is lost, the node stops the peer's processes (SIGTERM, then SIGKILL).
//
// Failures a peer sees: connect/handshake errors as exceptions from spawn_process
// (ConnectionRefusedError-like OSError, AuthenticationError, TimeoutError, StartMethodError for
// an entry the node does not have); afterwards a monitor/link gets the remote process's exit
// reason (kin::exit_status works), or caf::exit_reason::remote_link_unreachable
// (kin::node_lost) when the node died or the network between the two failed — within
// kNodeLossBound for a silent loss (BASP heartbeats every 500 ms plus TCP_USER_TIMEOUT),
// immediately when the node's kernel closes the connection. docs/distribution.md has the whole
// model.
#pragma once

#include <kin/actor_system.hpp>

#include <caf/actor.hpp>
#include <caf/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kin {

/// The longest a silent loss of a node (powered off, a link down, a partition) takes to reach
/// the monitors of its process actors as kin::node_lost.
inline constexpr std::chrono::milliseconds kNodeLossBound{6000};

struct NodeOptions {
  std::string listen;                                   // "HOST:PORT" (port 0: any free one)
  std::string authkey;                                  // must not be empty
  std::chrono::milliseconds handshake_timeout{5000};    // per peer, for the whole handshake
  ActorSystemOptions system{};                          // the node's own system (network is forced on)
};

class Node {
 public:
  /// Listens and starts serving. Throws OSError (address in use, bad host), ValueError (an
  /// empty authkey, a malformed address).
  explicit Node(NodeOptions options);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Stops accepting, then ends the node's system: every process actor it started is stopped.
  ~Node();

  /// "HOST:PORT" actually listened on (the real port for port 0).
  [[nodiscard]] std::string address() const;
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Peers that passed the handshake and were handed to BASP.
  [[nodiscard]] std::size_t peers_accepted() const noexcept;
  /// Peers that offered a wrong key (garbage and silence are dropped by the listener uncounted).
  [[nodiscard]] std::size_t peers_refused() const noexcept;
  /// The node's actor system.
  [[nodiscard]] ActorSystem& system() noexcept;
  /// Blocks SIGTERM and SIGINT in the calling thread and waits for one; returns its number.
  /// Call it from the main thread before starting other threads for the mask to hold.
  int wait_for_signal();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Where a remote spawn_process runs: a node's address ("HOST:PORT") and its authkey.
struct RemoteNode {
  std::string address;
  std::string authkey;
  std::chrono::milliseconds timeout{10000};  // connect + handshake + the start of the process
};

[[nodiscard]] inline RemoteNode on(std::string address, std::string authkey) {
  return RemoteNode{std::move(address), std::move(authkey)};
}

/// True for the down/exit reason of an actor on a node that is lost (the node died, or the
/// connection to it failed or timed out).
[[nodiscard]] bool node_lost(const caf::error& reason);

namespace detail {

/// Node side of a remote start: decodes the arguments and starts the process actor locally.
using RemoteStarter = caf::actor (*)(ActorSystem& sys, std::uintptr_t fn, const std::string& args);
/// Registers the starter for one (function type, argument types) signature (static init).
bool register_remote_starter(const char* signature, RemoteStarter starter) noexcept;
/// Peer side: connects to the node (once per system and address), asks it to start the
/// KIN_ENTRY function `fn` with `args` (kin-encoded), and returns the remote actor.
caf::actor spawn_remote(ActorSystem& sys, const RemoteNode& node, std::uintptr_t fn, const char* signature,
                        std::string args);

/// Called first by ~ActorSystem: ends the system's connections to nodes (its keeper actor),
/// so the nodes stop this system's processes and no actor of it outlives the system (G8).
void stop_node_peer(caf::actor_system& sys) noexcept;

}  // namespace detail
}  // namespace kin
