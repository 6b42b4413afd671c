// The producer/consumer program of the Python tutorials, as actors: a reader (a thread actor)
// produces lines "producer-K : VALUE", N parser process actors turn a line into (name,
// value), and an aggregator (a thread actor) sums the values per producer. The reader keeps
// at most `in_flight` requests outstanding (a bounded window instead of a bounded queue), so
// a slow parser slows the reader down instead of filling memory.
//
//   actor_producer_consumer [lines=100000] [parsers=2] [in_flight=64]
#include <kin/actors.hpp>
#include <kin/init.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

using start_atom = caf::atom_constant<caf::atom("start")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using get_atom = caf::get_atom;

// In a child: "producer-3 : 42" -> ("producer-3", 42).
caf::behavior parser(caf::event_based_actor*) {
  return {[](const std::string& line) -> caf::result<std::string, std::int64_t> {
    auto colon = line.find(" : ");
    if (colon == std::string::npos) return caf::make_error(caf::sec::invalid_argument, "no ' : ' in " + line);
    return {line.substr(0, colon), std::stoll(line.substr(colon + 3))};
  }};
}

struct AggregatorState {
  std::map<std::string, std::int64_t> sums;
  std::int64_t lines = 0;
};
caf::behavior aggregator(caf::stateful_actor<AggregatorState>* self) {
  return {
      [=](const std::string& name, std::int64_t value) {
        self->state.sums[name] += value;
        ++self->state.lines;
      },
      [=](get_atom) {
        std::string report;
        for (auto& [name, sum] : self->state.sums) report += "  " + name + ": " + std::to_string(sum) + "\n";
        return caf::make_message(self->state.lines, report);
      },
  };
}

struct ReaderState {
  std::int64_t next = 0, answered = 0, total = 0;
  std::size_t turn = 0;
  caf::response_promise done;
};
caf::behavior reader(caf::stateful_actor<ReaderState>* self, std::vector<caf::actor> parsers, caf::actor sink,
                     std::int64_t total, int in_flight) {
  // Sends line `next` to the parsers in turn; each answer sends the next line (the window).
  auto send_one = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> again = send_one;  // no cycle: the behaviour owns it
  *send_one = [=] {
    auto& st = self->state;
    if (st.next >= st.total) return;
    std::int64_t i = st.next++;
    std::string line = "producer-" + std::to_string(i % 4) + " : " + std::to_string(i % 11);
    auto& p = parsers[st.turn++ % parsers.size()];
    self->request(p, std::chrono::seconds(30), line)
        .then(
            [=](const std::string& name, std::int64_t value) {
              self->send(sink, name, value);
              if (++self->state.answered == self->state.total) {
                self->state.done.deliver(done_atom::value);
                return;
              }
              if (auto f = again.lock()) (*f)();
            },
            [=](caf::error& e) {
              std::printf("parser failed: %s\n", kin::describe(e).c_str());
              self->state.done.deliver(e);
            });
  };
  return {[=](start_atom) {
    self->state.total = total;
    self->state.done = self->make_response_promise();
    for (int k = 0; k < in_flight; ++k) (*send_one)();
    return self->state.done;
  }};
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::int64_t lines = argc > 1 ? std::atoll(argv[1]) : 100000;
  int n_parsers = argc > 2 ? std::atoi(argv[2]) : 2;
  int in_flight = argc > 3 ? std::atoi(argv[3]) : 64;
  kin::ActorSystem sys;
  caf::scoped_actor self{sys};
  std::vector<caf::actor> parsers;
  for (int i = 0; i < n_parsers; ++i)
    parsers.push_back(kin::spawn_process(sys, kin::ProcessOptions{.name = "parser-" + std::to_string(i)}, parser));
  auto agg = sys.spawn(aggregator);
  auto rd = sys.spawn(reader, parsers, agg, lines, in_flight);
  auto t0 = std::chrono::steady_clock::now();
  self->request(rd, std::chrono::seconds(600), start_atom::value)
      .receive([](done_atom) {}, [](caf::error& e) { std::printf("reader: %s\n", kin::describe(e).c_str()); });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  self->request(agg, std::chrono::seconds(10), get_atom::value)
      .receive(
          [&](std::int64_t n, const std::string& report) {
            std::printf("%lld lines parsed by %d parser processes (%d in flight) in %.2f s: %.0f lines/s\n%s",
                        static_cast<long long>(n), n_parsers, in_flight, s, static_cast<double>(n) / s, report.c_str());
          },
          [](caf::error& e) { std::printf("aggregator: %s\n", kin::describe(e).c_str()); });
  caf::anon_send_exit(rd, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(agg, caf::exit_reason::user_shutdown);
}
