// Ping-pong between two process actors: `pong` answers each ping with the next number, `ping`
// (another process) plays `rounds` request/response exchanges with pong and answers the
// parent with the time it took. The parent also times its own requests to pong.
//
//   actor_ping_pong [rounds=10000]
#include <kin/actors.hpp>
#include <kin/init.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>

using ping_atom = caf::ping_atom;
using pong_atom = caf::pong_atom;
using play_atom = caf::atom_constant<caf::atom("play")>;

caf::behavior pong(caf::event_based_actor*) {
  return {[](ping_atom, std::int64_t n) { return caf::make_message(pong_atom::value, n + 1); }};
}

using Clock = std::chrono::steady_clock;

void ping_step(caf::event_based_actor* self, caf::actor partner, std::int64_t n, std::int64_t rounds,
               caf::typed_response_promise<double> rp, Clock::time_point t0) {
  if (n >= rounds) {
    rp.deliver(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    return;
  }
  self->request(partner, std::chrono::seconds(10), ping_atom::value, n)
      .then([=](pong_atom, std::int64_t next) { ping_step(self, partner, next, rounds, rp, t0); });
}

// Plays `rounds` exchanges with `partner`, one request at a time, then replies with the µs.
caf::behavior ping(caf::event_based_actor* self, caf::actor partner) {
  return {[=](play_atom, std::int64_t rounds) -> caf::result<double> {
    auto rp = self->make_response_promise<double>();
    ping_step(self, partner, 0, rounds, rp, Clock::now());
    return rp;
  }};
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::int64_t rounds = argc > 1 ? std::atoll(argv[1]) : 10000;
  kin::ActorSystem sys;
  caf::scoped_actor self{sys};
  auto po = kin::spawn_process(sys, kin::ProcessOptions{.name = "pong"}, pong);
  auto pi = kin::spawn_process(sys, kin::ProcessOptions{.name = "ping"}, ping, po);

  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < rounds; ++i)
    self->request(po, std::chrono::seconds(10), ping_atom::value, i)
        .receive([](pong_atom, std::int64_t) {}, [](caf::error& e) { std::printf("error: %s\n", kin::describe(e).c_str()); });
  double parent_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  std::printf("parent -> pong: %lld round trips, %.1f us each\n", static_cast<long long>(rounds), parent_us / rounds);

  self->request(pi, std::chrono::seconds(120), play_atom::value, rounds)
      .receive([&](double us) { std::printf("ping -> pong (child to child, through the parent): %.1f us each\n", us / rounds); },
               [](caf::error& e) { std::printf("error: %s\n", kin::describe(e).c_str()); });
  // Leaving the scope stops both children (SIGTERM, then reaped) before the system goes.
}
