// A calculator service in a child process: the parent asks it for sums and quotients,
// monitors it, kills it with SIGKILL and sees it go down with "killed by SIGKILL".
//
//   actor_calculator
#include <kin/actors.hpp>
#include <kin/init.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>

using add_atom = caf::add_atom;
using div_atom = caf::atom_constant<caf::atom("div")>;
using pid_atom = caf::atom_constant<caf::atom("pid")>;

caf::behavior calculator(caf::event_based_actor*) {
  return {
      [](add_atom, std::int64_t a, std::int64_t b) { return a + b; },
      [](div_atom, std::int64_t a, std::int64_t b) -> caf::result<std::int64_t> {
        if (b == 0) return caf::make_error(caf::sec::invalid_argument, "division by zero");
        return a / b;
      },
      [](pid_atom) { return static_cast<std::int32_t>(::getpid()); },
  };
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::ActorSystem sys;
  caf::scoped_actor self{sys};
  auto calc = kin::spawn_process(sys, kin::ProcessOptions{.name = "calculator"}, calculator);
  self->monitor(calc);
  auto show_error = [](caf::error& e) { std::printf("  error: %s\n", kin::describe(e).c_str()); };
  self->request(calc, std::chrono::seconds(5), add_atom::value, std::int64_t{40}, std::int64_t{2})
      .receive([](std::int64_t r) { std::printf("40 + 2 = %lld\n", static_cast<long long>(r)); }, show_error);
  self->request(calc, std::chrono::seconds(5), div_atom::value, std::int64_t{1}, std::int64_t{0})
      .receive([](std::int64_t r) { std::printf("1 / 0 = %lld ?\n", static_cast<long long>(r)); },
               [](caf::error& e) { std::printf("1 / 0: the service answered with an error: %s\n", caf::to_string(e).c_str()); });
  std::int32_t pid = 0;
  self->request(calc, std::chrono::seconds(5), pid_atom::value).receive([&](std::int32_t p) { pid = p; }, show_error);
  if (pid <= 0) return 1;  // never kill(0, ...): that would signal our own process group
  std::printf("killing the calculator (pid %d) with SIGKILL\n", pid);
  ::kill(pid, SIGKILL);
  self->receive(
      [&](caf::down_msg& dm) {
        std::printf("calculator went down: %s (exitcode %d)\n", kin::describe(dm.reason).c_str(),
                    kin::exit_status(dm.reason).value_or(kin::ExitStatus{}).exitcode());
      },
      caf::after(std::chrono::seconds(10)) >> [] { std::printf("no down message within 10 s\n"); });
  // A request to the dead service fails at once instead of hanging.
  self->request(calc, std::chrono::seconds(5), add_atom::value, std::int64_t{1}, std::int64_t{1})
      .receive([](std::int64_t) { std::printf("the dead calculator answered?\n"); },
               [](caf::error& e) { std::printf("request after death: %s\n", caf::to_string(e).c_str()); });
}
