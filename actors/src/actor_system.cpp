#include <kin/actor_system.hpp>
#include <kin/node.hpp>

#include "process_actor_core.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/actor_registry.hpp>
#include <caf/io/middleman.hpp>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace kin {

namespace {

constexpr caf::atom_value kin_category = caf::atom("kin");

std::string render_kin_error(std::uint8_t code, caf::atom_value, const caf::message& ctx) {
  std::string status, detail;
  if (ctx.match_elements<std::int32_t, std::int32_t, bool, std::string>()) {
    auto st = ctx.get_as<std::int32_t>(1) != 0 ? ExitStatus::killed(ctx.get_as<std::int32_t>(1), ctx.get_as<bool>(2))
                                                : ExitStatus::exited(ctx.get_as<std::int32_t>(0));
    status = st.str();
    detail = ctx.get_as<std::string>(3);
  } else if (ctx.match_elements<std::string>()) {
    detail = ctx.get_as<std::string>(0);
  }
  switch (static_cast<ActorErrc>(code)) {
    case ActorErrc::exited:
    case ActorErrc::killed: return status;
    case ActorErrc::protocol_error: return "protocol error: " + detail + (status.empty() ? "" : " (" + status + ")");
    case ActorErrc::cannot_travel: return "cannot travel: " + detail;
  }
  return "kin error " + std::to_string(code);
}

caf::message status_context(const ExitStatus& s, std::string detail) {
  return caf::make_message(static_cast<std::int32_t>(s.code().value_or(0)), static_cast<std::int32_t>(s.signal().value_or(0)),
                           s.core_dumped(), std::move(detail));
}

}  // namespace

caf::error make_exit_reason(const ExitStatus& s) {
  if (s.success()) return caf::error{};
  auto code = s.signal() ? ActorErrc::killed : ActorErrc::exited;
  return caf::error{static_cast<std::uint8_t>(code), kin_category, status_context(s, {})};
}

caf::error make_protocol_error(const std::string& what, const ExitStatus& s) {
  return caf::error{static_cast<std::uint8_t>(ActorErrc::protocol_error), kin_category, status_context(s, what)};
}

std::optional<ExitStatus> exit_status(const caf::error& reason) {
  if (!reason) return ExitStatus{};
  if (reason.category() != kin_category) return std::nullopt;
  auto code = static_cast<ActorErrc>(reason.code());
  if (code != ActorErrc::exited && code != ActorErrc::killed && code != ActorErrc::protocol_error) return std::nullopt;
  const auto& ctx = reason.context();
  if (!ctx.match_elements<std::int32_t, std::int32_t, bool, std::string>()) return std::nullopt;
  if (int sig = ctx.get_as<std::int32_t>(1); sig != 0) return ExitStatus::killed(sig, ctx.get_as<bool>(2));
  return ExitStatus::exited(ctx.get_as<std::int32_t>(0));
}

std::string describe(const caf::error& reason) {
  if (!reason) return "exit 0";
  if (reason.category() == kin_category) return render_kin_error(reason.code(), reason.category(), reason.context());
  return caf::to_string(reason);
}

namespace detail {

struct ActorSystemBase::Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  bool disarmed = false;
  std::thread thread;
};

ActorSystemBase::ActorSystemBase(const ActorSystemOptions& options, caf::actor_system_config::module_factory scheduler)
    : options_(options) {
  if (options_.threads == 0) options_.threads = 1;
  // A scheduler module loaded here replaces the policy's coordinator (CAF keeps a loaded one).
  if (scheduler) config_.module_factories.push_back(std::move(scheduler));
  // Set in code only: no parse(), so no caf-application.ini and no --caf options (G1).
  config_.set("scheduler.policy", options_.policy == SchedulerPolicy::sharing ? caf::atom("sharing") : caf::atom("stealing"));
  config_.set("scheduler.max-threads", options_.threads);
  config_.set("logger.verbosity", caf::atom("quiet"));
  config_.add_error_category(kin_category, render_kin_error);
  if (options_.network) {
    config_.load<caf::io::middleman>();
    // BASP heartbeats keep unacknowledged data on a connection whose peer vanished, so the
    // TCP_USER_TIMEOUT kin::Node sets on its sockets (node.cpp) ends it in bounded time.
    config_.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(500)});
    config_.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(4000)});
  }
}

ActorSystemBase::~ActorSystemBase() {
  if (!watchdog_) return;
  {
    std::lock_guard g{watchdog_->mu};
    watchdog_->disarmed = true;
  }
  watchdog_->cv.notify_all();
  watchdog_->thread.join();
}

void ActorSystemBase::arm_watchdog(caf::actor_system& sys) {
  watchdog_ = std::make_unique<Watchdog>();
  auto* w = watchdog_.get();
  auto limit = options_.shutdown_timeout;
  watchdog_->thread = std::thread([w, limit, &sys] {
    std::unique_lock lk{w->mu};
    if (w->cv.wait_for(lk, limit, [w] { return w->disarmed; })) return;
    std::fprintf(stderr,
                 "kin::ActorSystem: shutdown did not finish within %lld ms (%zu actors still running, e.g. a "
                 "blocking actor that ignores exit_msg); ending the program\n",
                 static_cast<long long>(limit.count()), sys.registry().running());
    std::fflush(stderr);
    std::_Exit(70);
  });
}

struct ProcessActorList {
  mutable std::mutex mu;
  std::vector<std::shared_ptr<ProcessActorCore>> cores;
};

void adopt_process_actor(ActorSystem& sys, std::shared_ptr<ProcessActorCore> core) {
  std::vector<std::shared_ptr<ProcessActorCore>> finished;
  {
    std::lock_guard g{sys.processes_->mu};
    auto& v = sys.processes_->cores;
    for (auto it = v.begin(); it != v.end();) {
      if ((*it)->done()) {
        finished.push_back(std::move(*it));
        it = v.erase(it);
      } else {
        ++it;
      }
    }
    v.push_back(std::move(core));
  }
  for (auto& c : finished) c->join();
}

}  // namespace detail

ActorSystem::ActorSystem(ActorSystemOptions options)
    : detail::ActorSystemBase(options), caf::actor_system(config_), processes_(std::make_unique<detail::ProcessActorList>()) {}

ActorSystem::ActorSystem(ActorSystemOptions options, caf::actor_system_config::module_factory scheduler)
    : detail::ActorSystemBase(options, std::move(scheduler)),
      caf::actor_system(config_),
      processes_(std::make_unique<detail::ProcessActorList>()) {}

std::size_t ActorSystem::running_process_actors() const {
  std::lock_guard g{processes_->mu};
  std::size_t n = 0;
  for (auto& c : processes_->cores) n += c->done() ? 0 : 1;
  return n;
}

ActorSystem::~ActorSystem() {
  if (has_middleman()) detail::stop_node_peer(*this);
  std::vector<std::shared_ptr<detail::ProcessActorCore>> cores;
  {
    std::lock_guard g{processes_->mu};
    cores.swap(processes_->cores);
  }
  // Newest first, as a supervisor shuts its children down.
  for (auto it = cores.rbegin(); it != cores.rend(); ++it) {
    auto& c = *it;
    if (!c->done()) {
      c->request_stop(false);
      if (!c->wait_done(options_.process_stop_timeout)) {
        c->request_stop(true);
        c->wait_done(std::chrono::milliseconds(5000));
      }
    }
    c->join();
  }
  cores.clear();
  // The remaining actors get shutdown_timeout to finish; then the scheduler stops without them
  // (0.17 has no timed await, so poll the registry).
  auto deadline = std::chrono::steady_clock::now() + options_.shutdown_timeout;
  while (registry().running() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (registry().running() > 0) await_actors_before_shutdown(false);
  arm_watchdog(*this);
}

}  // namespace kin
