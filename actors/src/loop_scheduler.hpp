// Private: a CAF scheduler with no threads of its own. Its one worker is whichever thread calls
// run_jobs() — in a process actor's child, the thread that also reads and writes the channel —
// and its clock fires when that thread calls fire_timers(). A child then runs its actors,
// its timers and its channel I/O on one thread: a message read from the socket is delivered,
// handled and answered without a thread hop, and a child starts no scheduler or clock thread.
//
//   auto* sys = detail::make_loop_actor_system(options);   // kin::ActorSystem on a LoopScheduler
//   auto& loop = detail::LoopScheduler::of(*sys);
//   loop.set_waker([&] { channel.wake(); });               // another thread enqueued work
//   for (;;) { io(); loop.fire_timers(); loop.run_jobs(); park(loop.next_timer()); }
//
// Enqueues from other threads (a detached actor, a timer set from one) are taken under a
// mutex and call the waker, so the loop may park in poll(). Nothing here blocks.
#pragma once

#include <kin/actor_system.hpp>

#include <caf/actor_clock.hpp>
#include <caf/detail/simple_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace kin::detail {

class LoopScheduler final : public caf::scheduler::abstract_coordinator {
 public:
  using time_point = caf::actor_clock::time_point;

  explicit LoopScheduler(caf::actor_system& sys);

  /// The LoopScheduler of a system made by make_loop_actor_system.
  static LoopScheduler& of(caf::actor_system& sys);

  /// Once, before the loop first runs: called (from any thread) whenever an actor is queued
  /// or a timer set; it should wake the loop only if the loop is parked (and be cheap
  /// otherwise: it runs on every enqueue).
  void set_waker(std::function<void()> w);

  /// Resumes the queued actors, then those they woke, for up to 8 rounds. True when it ran
  /// any. The loop's thread only.
  bool run_jobs();
  /// Delivers the timeouts and delayed messages that are due. True when any was.
  bool fire_timers();
  /// True when actors are queued.
  bool has_jobs();
  /// The earliest pending timer, if any.
  std::optional<time_point> next_timer();

  // -- caf::scheduler::abstract_coordinator -----------------------------------
  void enqueue(caf::resumable* what) override;
  caf::actor_clock& clock() noexcept override { return clock_; }
  void start() override;
  void stop() override;

 private:
  // CAF's simple clock behind a lock: actors on other threads (detached ones) may set timers.
  class Clock final : public caf::detail::simple_actor_clock {
   public:
    explicit Clock(LoopScheduler& owner) : owner_(owner) {}
    void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type, uint64_t id) override;
    void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type, uint64_t id) override;
    void set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) override;
    void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override;
    void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override;
    void cancel_timeouts(caf::abstract_actor* self) override;
    void schedule_message(time_point t, caf::strong_actor_ptr receiver, caf::mailbox_element_ptr content) override;
    void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender, caf::message content) override;
    void cancel_all() override;
    bool fire();
    std::optional<time_point> next();

   private:
    LoopScheduler& owner_;
    // Recursive: delivering a due message can drop the last reference to an actor, whose
    // destructor cancels its timeouts on this same clock.
    std::recursive_mutex mu_;
  };

  // The execution unit actors see while the loop resumes them: exec_later queues locally.
  class Unit final : public caf::execution_unit {
   public:
    Unit(caf::actor_system* sys, LoopScheduler& owner) : caf::execution_unit(sys), owner_(owner) {}
    void exec_later(caf::resumable* ptr) override { owner_.push(ptr, false); }

   private:
    LoopScheduler& owner_;
  };

  void push(caf::resumable* r, bool maybe_foreign);
  void woken();

  Clock clock_;
  Unit unit_;
  std::mutex mu_;
  std::deque<caf::resumable*> jobs_;  // each holds the reference its enqueuer took
  std::atomic<bool> has_jobs_{false};
  std::function<void()> waker_;
  std::atomic<bool> has_waker_{false};
};

/// A kin::ActorSystem whose scheduler is a LoopScheduler (never destroyed in a child: it
/// _exits). `options.threads` and `policy` do not apply.
ActorSystem* make_loop_actor_system(const ActorSystemOptions& options);

}  // namespace kin::detail
