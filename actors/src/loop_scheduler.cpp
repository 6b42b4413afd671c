#include "loop_scheduler.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/type_id.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

namespace kin::detail {

// -- Clock ----------------------------------------------------------------------

void LoopScheduler::Clock::set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                                                uint64_t id) {
  {
    std::lock_guard g{mu_};
    simple_actor_clock::set_ordinary_timeout(t, self, type, id);
  }
  owner_.woken();
}

void LoopScheduler::Clock::set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                                             uint64_t id) {
  {
    std::lock_guard g{mu_};
    simple_actor_clock::set_multi_timeout(t, self, type, id);
  }
  owner_.woken();
}

void LoopScheduler::Clock::set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) {
  {
    std::lock_guard g{mu_};
    simple_actor_clock::set_request_timeout(t, self, id);
  }
  owner_.woken();
}

void LoopScheduler::Clock::cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) {
  std::lock_guard g{mu_};
  simple_actor_clock::cancel_ordinary_timeout(self, type);
}

void LoopScheduler::Clock::cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) {
  std::lock_guard g{mu_};
  simple_actor_clock::cancel_request_timeout(self, id);
}

void LoopScheduler::Clock::cancel_timeouts(caf::abstract_actor* self) {
  std::lock_guard g{mu_};
  simple_actor_clock::cancel_timeouts(self);
}

void LoopScheduler::Clock::schedule_message(time_point t, caf::strong_actor_ptr receiver,
                                            caf::mailbox_element_ptr content) {
  {
    std::lock_guard g{mu_};
    simple_actor_clock::schedule_message(t, std::move(receiver), std::move(content));
  }
  owner_.woken();
}

void LoopScheduler::Clock::schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                                            caf::message content) {
  {
    std::lock_guard g{mu_};
    simple_actor_clock::schedule_message(t, std::move(target), std::move(sender), std::move(content));
  }
  owner_.woken();
}

void LoopScheduler::Clock::cancel_all() {
  std::lock_guard g{mu_};
  simple_actor_clock::cancel_all();
}

bool LoopScheduler::Clock::fire() {
  std::lock_guard g{mu_};
  if (schedule().empty() || schedule().begin()->first > now()) return false;
  return trigger_expired_timeouts() > 0;
}

std::optional<LoopScheduler::time_point> LoopScheduler::Clock::next() {
  std::lock_guard g{mu_};
  if (schedule().empty()) return std::nullopt;
  return schedule().begin()->first;
}

// -- LoopScheduler ----------------------------------------------------------------

LoopScheduler::LoopScheduler(caf::actor_system& sys) : abstract_coordinator(sys), clock_(*this), unit_(&sys, *this) {}

LoopScheduler& LoopScheduler::of(caf::actor_system& sys) { return static_cast<LoopScheduler&>(sys.scheduler()); }

void LoopScheduler::set_waker(std::function<void()> w) {
  waker_ = std::move(w);
  has_waker_.store(static_cast<bool>(waker_), std::memory_order_release);
}

void LoopScheduler::woken() {
  if (has_waker_.load(std::memory_order_acquire)) waker_();
}

void LoopScheduler::push(caf::resumable* r, bool maybe_foreign) {
  {
    std::lock_guard g{mu_};
    jobs_.push_back(r);
    has_jobs_.store(true, std::memory_order_seq_cst);  // read by the loop after it set parked
  }
  if (maybe_foreign) woken();
}

void LoopScheduler::enqueue(caf::resumable* what) { push(what, true); }

bool LoopScheduler::has_jobs() { return has_jobs_.load(std::memory_order_seq_cst); }

bool LoopScheduler::run_jobs() {
  if (!has_jobs()) return false;
  // Also the actors that this round's actors woke (a few rounds, so an actor that keeps
  // messaging itself cannot starve the channel): what a message causes in the child — aout's
  // printer, a helper actor — is done before the loop writes the replies that followed it.
  for (int round = 0; round < 8 && has_jobs(); ++round) {
    std::deque<caf::resumable*> batch;
    {
      std::lock_guard g{mu_};
      batch.swap(jobs_);
      has_jobs_.store(false, std::memory_order_release);
    }
    for (auto* job : batch) {
      switch (job->resume(&unit_, max_throughput_)) {
        case caf::resumable::resume_later: push(job, false); break;
        case caf::resumable::done:
        case caf::resumable::awaiting_message: caf::intrusive_ptr_release(job); break;
        case caf::resumable::shutdown_execution_unit: break;
      }
    }
  }
  return true;
}

bool LoopScheduler::fire_timers() { return clock_.fire(); }

std::optional<LoopScheduler::time_point> LoopScheduler::next_timer() { return clock_.next(); }

namespace {

// CAF's printer (what caf::aout writes to) is a detached blocking actor: a thread of its own.
// This one speaks the same protocol as an event-based actor on the loop: text is buffered per
// actor and written to stdout a line at a time, and the rest on flush or when the actor is gone.
caf::behavior loop_printer(caf::event_based_actor* self) {
  auto bufs = std::make_shared<std::unordered_map<caf::actor_id, std::string>>();
  auto out = [](std::string& b, bool all) {
    auto end = all ? b.size() : (b.rfind('\n') == std::string::npos ? 0 : b.rfind('\n') + 1);
    if (end == 0) return;
    std::fwrite(b.data(), 1, end, stdout);
    std::fflush(stdout);
    b.erase(0, end);
  };
  self->set_default_handler(caf::drop);
  return {
      [=](caf::add_atom, caf::actor_id aid, std::string& text) {
        if (text.empty()) return;
        auto& b = (*bufs)[aid];
        b += text;
        out(b, false);
      },
      [=](caf::flush_atom, caf::actor_id aid) {
        if (auto it = bufs->find(aid); it != bufs->end()) out(it->second, true);
      },
      [=](caf::delete_atom, caf::actor_id aid) {
        if (auto it = bufs->find(aid); it != bufs->end()) {
          out(it->second, true);
          bufs->erase(it);
        }
      },
  };
}

}  // namespace

void LoopScheduler::start() {
  // Not abstract_coordinator::start(): it spawns CAF's printer on a thread of its own.
  utility_actors_[printer_id] = system().spawn<caf::hidden>(loop_printer);
}

void LoopScheduler::stop() {
  // A child never gets here (it _exits). Were the system destroyed, nothing would run the
  // loop any more: CAF's stop_actors() would wait forever for the printer to go down, so the
  // queued actors are only cleaned up, not resumed.
  std::deque<caf::resumable*> left;
  {
    std::lock_guard g{mu_};
    left.swap(jobs_);
  }
  for (auto* job : left) cleanup_and_release(job);
  clock_.cancel_all();
}

ActorSystem* make_loop_actor_system(const ActorSystemOptions& options) {
  return new ActorSystem(options, [](caf::actor_system& sys) -> caf::actor_system::module* {
    return new LoopScheduler(sys);
  });
}

}  // namespace kin::detail
