// kin::spawn_process: a CAF actor that runs in its own OS process. The parent holds an
// ordinary caf::actor — send, anon_send, request(...).then/await/receive, monitor and link all
// work on it — and the child, started by any of the three start methods, builds its own
// fresh actor system and runs the actor function there.
//
//   caf::behavior calculator(caf::event_based_actor* self, int offset) {
//     return {[=](int a, int b) { return a + b + offset; }};
//   }
//   kin::ActorSystem sys;
//   caf::actor calc = kin::spawn_process(sys, calculator, 10);
//   caf::scoped_actor self{sys};
//   self->request(calc, std::chrono::seconds(1), 1, 2).receive(
//       [](int r) { /* 13 */ }, [](caf::error& e) { /* timeout, child down, cannot travel */ });
//   self->monitor(calc);   // down_msg when the OS process ends; kin::exit_status(dm.reason)
//
// The rules are kin::Process's: a closure (a lambda with captures) runs only under the fork
// start method; under spawn and forkserver the function must be a plain function (or a
// captureless lambda, or KIN_ENTRY-registered) and every argument kin::serializable — else
// kin::StartMethodError at spawn. A caf::actor argument travels as a reference the child can
// send to. Messages are encoded with kin's codec (element types: integers, float, double,
// bool, std::string, caf atoms, caf::error, caf::actor, std::vector<std::string>, and types
// registered with kin::Message::register_type); an element that cannot travel fails a request
// with a kin error ("cannot travel"), and a one-way send says so on stderr — never a silent
// drop. When the child dies (any way), its monitors and links get down_msg/exit_msg whose
// reason carries the kin::ExitStatus; a bad frame from the child kills it and ends the proxy
// with a protocol-error reason. docs/actors.md has the whole model.
//
// On another host: kin::spawn_process(sys, kin::on("host:7000", key), fn, args...) starts fn
// on the kin::Node listening there (node.hpp; fn must be KIN_ENTRY-registered, the arguments
// kin::serializable and not actors, and sys built with ActorSystemOptions::network).
#pragma once

#include <kin/actor_system.hpp>
#include <kin/detail/process_actor.hpp>
#include <kin/node.hpp>
#include <kin/process.hpp>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include <span>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace kin {

/// Starts `fn(self, args...)` as an actor in a child process chosen by `options`
/// (name, daemon, start method) and returns its handle.
template <class F, class... Args>
  requires std::is_invocable_r_v<caf::behavior, std::decay_t<F>&, caf::event_based_actor*,
                                 std::conditional_t<std::is_same_v<std::decay_t<Args>, caf::actor>, caf::actor,
                                                    std::decay_t<Args>&>...>
caf::actor spawn_process(ActorSystem& sys, ProcessOptions options, F&& fn, Args&&... args) {
  detail::ProcessActorStart start{sys};
  using Fp = typename detail::function_pointer_of<std::decay_t<F>>::type;
  auto make_process = [&]() -> Process {
    if constexpr (!std::is_void_v<Fp>) {
      Fp fp = static_cast<Fp>(fn);
      return Process(std::move(options), &detail::process_actor_entry<Fp, detail::wire_arg_t<Args>...>,
                     detail::fn_ref_of(reinterpret_cast<const void*>(fp)), start.child_fd(),
                     detail::to_wire(start, std::forward<Args>(args))...);
    } else {
      // A closure: only fork can carry it (Process refuses the other start methods).
      auto tup = std::make_tuple(detail::to_wire(start, std::forward<Args>(args))...);
      return Process(std::move(options),
                     [f = std::decay_t<F>(std::forward<F>(fn)), fd = start.child_fd(), tup = std::move(tup)]() mutable {
                       return std::apply(
                           [&](auto&... w) {
                             return detail::run_process_actor_child(
                                 fd, [&](caf::event_based_actor* self, detail::Channel& ch) -> caf::behavior {
                                   return f(self, detail::from_wire(ch, w)...);
                                 });
                           },
                           tup);
                     });
    }
  };
  return detail::launch_process_actor(sys, start, make_process());
}

namespace detail {
// One instantiation per (function type, argument types) a remote spawn_process names; the
// node, running the same program, has it too and finds it by the signature.
template <class Fp, class... A>
struct RemoteEntry {
  static caf::actor start(ActorSystem& sys, std::uintptr_t fn, const std::string& args) {
    std::tuple<A...> tup;
    decode_into(std::span<const std::byte>(reinterpret_cast<const std::byte*>(args.data()), args.size()), tup);
    auto f = reinterpret_cast<Fp>(fn);
    return std::apply([&](A&... a) { return spawn_process(sys, ProcessOptions{}, f, std::move(a)...); }, tup);
  }
  static inline const bool registered = register_remote_starter(typeid(RemoteEntry).name(), &start);
};
}  // namespace detail

/// Starts `fn(self, args...)` as a process actor on the kin::Node at `node` and returns its
/// handle (node.hpp). Throws what connecting and the node's start throw.
template <class F, class... Args>
  requires std::is_invocable_r_v<caf::behavior, std::decay_t<F>&, caf::event_based_actor*, std::decay_t<Args>&...>
caf::actor spawn_process(ActorSystem& sys, RemoteNode node, F&& fn, Args&&... args) {
  using Fp = typename detail::function_pointer_of<std::decay_t<F>>::type;
  static_assert(!std::is_void_v<Fp>, "kin::spawn_process on a node: the function must be a plain KIN_ENTRY function");
  static_assert((!std::is_same_v<std::decay_t<Args>, caf::actor> && ...),
                "kin::spawn_process on a node: pass actors in a message after the start, not as arguments");
  static_assert((serializable<std::decay_t<Args>> && ...), "kin::spawn_process on a node: every argument must be kin::serializable");
  using Entry = detail::RemoteEntry<Fp, std::decay_t<Args>...>;
  (void)Entry::registered;  // instantiates the node side in this program
  Bytes bytes = encode(std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
  Fp fp = static_cast<Fp>(fn);
  return detail::spawn_remote(sys, node, reinterpret_cast<std::uintptr_t>(fp), typeid(Entry).name(),
                              std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

/// As above with default ProcessOptions (the global start method).
template <class F, class... Args>
  requires(!std::is_same_v<std::decay_t<F>, ProcessOptions> && !std::is_same_v<std::decay_t<F>, RemoteNode>)
caf::actor spawn_process(ActorSystem& sys, F&& fn, Args&&... args) {
  return spawn_process(sys, ProcessOptions{}, std::forward<F>(fn), std::forward<Args>(args)...);
}

}  // namespace kin
