// Private pieces of kin::spawn_process (<kin/spawn_process.hpp>): the channel that carries
// CAF messages between a process actor's proxy in the parent and its child, and the
// translation of arguments for the child's start. Users never name anything here.
//
//   parent                                     child (any start method)
//   caf::actor h = spawn_process(sys, fn, x)   run_process_actor_child(fd, make):
//     ProcessActorStart s{sys};                  a fresh kin::ActorSystem, fn(self, x) as its
//     kin::Process{entry, fn_ref, s.child_fd()}  actor, slot 0 of the child's channel
//     launch_process_actor(sys, s, process)
//
// A crash of either side is an EOF on the channel or a readable pidfd; neither side trusts
// the other's frames (a bad frame kills the child and ends the proxy with a protocol error).
#pragma once

#include <kin/codec.hpp>
#include <kin/message.hpp>
#include <kin/process.hpp>
#include <kin/runtime/handover.hpp>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace kin {
class ActorSystem;
}

// A kin::Message may be an element of a caf::message (it travels to process actors with kin's
// codec); CAF itself never serializes it, so its kin-dialect inspect is not offered to CAF.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kin::Message)

namespace kin::detail {

class Channel;

/// An actor of the other side, as it travels in a child's start arguments: its slot in the
/// sender's channel table.
struct ActorSlot {
  std::uint32_t slot = 0;
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, ActorSlot& x) {
    return f(x.slot);
  }
};

/// The child's end of the channel: inherited under fork, handed over (SCM_RIGHTS) otherwise.
struct ChannelFd {
  int fd = -1;
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, ChannelFd& x) {
    std::uint32_t slot = 0;
    if constexpr (Inspector::reads_state) slot = handover_export(x.fd);
    f(slot);
    if constexpr (Inspector::writes_state) x.fd = handover_import(slot).release();
  }
};

/// Where the actor function lives, so a re-executed image (spawn) or the forkserver finds it:
/// its KIN_ENTRY name if it has one, else (object, offset) as for Process targets.
struct FnRef {
  std::string entry;
  std::string object;
  std::uint64_t offset = 0;
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, FnRef& x) {
    return f(x.entry, x.object, x.offset);
  }
};
FnRef fn_ref_of(const void* fn);
void* resolve_fn_ref(const FnRef& ref);

/// Parent side, before the child starts: the socketpair and the channel, which receives the
/// actors passed as arguments (they become slots the child can address).
class ProcessActorStart {
 public:
  explicit ProcessActorStart(ActorSystem& sys);
  ProcessActorStart(const ProcessActorStart&) = delete;
  ProcessActorStart& operator=(const ProcessActorStart&) = delete;
  ~ProcessActorStart();
  [[nodiscard]] ChannelFd child_fd() const noexcept { return ChannelFd{child_fd_}; }
  ActorSlot export_actor(const caf::actor& a);

 private:
  friend caf::actor launch_process_actor(ActorSystem&, ProcessActorStart&, Process);
  std::shared_ptr<Channel> channel_;
  int child_fd_ = -1;
};

/// Starts `p` (whose target runs run_process_actor_child on start.child_fd()) and returns the
/// proxy. Throws what Process::start throws (StartMethodError, OSError).
caf::actor launch_process_actor(ActorSystem& sys, ProcessActorStart& start, Process p);

using ActorMaker = std::function<caf::behavior(caf::event_based_actor*, Channel&)>;
/// The child's whole life: a fresh actor system, `make` as the actor on slot 0, until the
/// actor ends or the parent goes away. Returns the child's exit code.
int run_process_actor_child(ChannelFd fd, const ActorMaker& make);
/// In the child: the parent-side actor behind `slot`.
caf::actor import_actor(Channel& ch, ActorSlot slot);
/// In the child: the channel's fd (tests write garbage on it).
int process_actor_channel_fd();

template <class A>
struct wire_arg {
  using type = A;
};
template <>
struct wire_arg<caf::actor> {
  using type = ActorSlot;
};
template <class A>
using wire_arg_t = typename wire_arg<std::decay_t<A>>::type;

template <class A>
wire_arg_t<A> to_wire(ProcessActorStart& s, A&& a) {
  if constexpr (std::is_same_v<std::decay_t<A>, caf::actor>)
    return s.export_actor(a);
  else
    return std::forward<A>(a);
}

template <class W>
decltype(auto) from_wire(Channel& ch, W& w) {
  if constexpr (std::is_same_v<W, ActorSlot>)
    return import_actor(ch, w);
  else
    return (w);
}

/// The child's entry for function-pointer actor functions (any start method).
template <class Fp, class... W>
int process_actor_entry(FnRef fn, ChannelFd fd, W... args) {
  auto f = reinterpret_cast<Fp>(resolve_fn_ref(fn));
  return run_process_actor_child(fd, [&](caf::event_based_actor* self, Channel& ch) -> caf::behavior {
    return f(self, from_wire(ch, args)...);
  });
}

}  // namespace kin::detail
