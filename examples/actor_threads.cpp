// Thread actors are plain CAF in a kin::ActorSystem: an event-based actor on the scheduler's
// threads and a detached one on its own thread, both monitored; one fails, one is shut down.
//
//   actor_threads
#include <kin/actors.hpp>

#include <cstdio>

caf::behavior worker(caf::event_based_actor* self, std::string name) {
  return {[=](int x) -> caf::result<int> {
    if (x < 0) {
      self->quit(caf::make_error(caf::sec::invalid_argument, name + " got a negative number"));
      return caf::make_error(caf::sec::invalid_argument);
    }
    return x * x;
  }};
}

int main() {
  kin::ActorSystem sys{kin::ActorSystemOptions{.threads = 2}};
  caf::scoped_actor self{sys};
  auto pooled = sys.spawn(worker, std::string("pooled"));
  auto own_thread = sys.spawn<caf::detached>(worker, std::string("detached"));
  self->monitor(pooled);
  self->monitor(own_thread);
  self->request(pooled, std::chrono::seconds(5), 7).receive([](int r) { std::printf("pooled: 7^2 = %d\n", r); },
                                                            [](caf::error&) {});
  self->request(own_thread, std::chrono::seconds(5), 9).receive([](int r) { std::printf("detached: 9^2 = %d\n", r); },
                                                                [](caf::error&) {});
  self->send(pooled, -1);  // makes it quit with an error
  caf::anon_send_exit(own_thread, caf::exit_reason::user_shutdown);
  for (int downs = 0; downs < 2;)
    self->receive(
        [&](caf::down_msg& dm) {
          ++downs;
          std::printf("%s went down: %s\n", dm.source == pooled.address() ? "pooled" : "detached",
                      sys.render(dm.reason).c_str());
        },
        [](caf::error&) {},  // the reply to the plain send of -1 (handler results always return)
        caf::after(std::chrono::seconds(10)) >> [&] { downs = 2; });
}
