// `kin ctl [-c services.toml | --socket PATH [--key FILE]] COMMAND`: status [NAME] [--json],
// start|stop|restart NAME|all, logs NAME [-f] [-n N] [--err], reload, shutdown — over the
// control socket of a running `kin supervise` (services/control.hpp), with LSB exit codes.
#include "ctl.hpp"

#include <kin/services/config.hpp>
#include <kin/services/control.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace kin::cli {

namespace {

struct CtlArgs {
  std::string config, socket, key;
  std::string name = "all";
  bool json = false, follow = false, err = false;
  std::size_t lines = 10;
  std::string command;
};

int run(const CtlArgs& a) {
  using services::CtlExit;
  std::string socket = a.socket, key = a.key;
  try {
    services::SupervisorConfig sup;
    if (!a.config.empty()) sup = services::load_config(a.config).supervisor;
    if (socket.empty()) socket = services::socket_path(sup);
    if (key.empty()) {
      // Beside the socket unless a file says otherwise: x.sock's key is x.key.
      if (a.socket.empty()) key = services::key_path(sup);
      else key = (socket.size() > 5 && socket.ends_with(".sock") ? socket.substr(0, socket.size() - 5) : socket) + ".key";
    }
  } catch (const services::ConfigError& e) {
    std::fprintf(stderr, "kin ctl: %s\n", e.what());
    return static_cast<int>(CtlExit::usage);
  }
  try {
    services::ControlClient c{socket, key};
    if (a.command == "status") {
      auto rows = c.status(a.name);
      std::fputs((a.json ? services::status_json(rows) + "\n" : services::status_table(rows)).c_str(), stdout);
      for (const auto& r : rows)
        if (r.pid == 0) return static_cast<int>(CtlExit::not_running);
      return 0;
    }
    if (a.command == "start") c.start(a.name);
    else if (a.command == "stop") c.stop(a.name);
    else if (a.command == "restart") c.restart(a.name);
    else if (a.command == "shutdown") c.shutdown();
    else if (a.command == "reload") {
      auto r = c.reload();
      auto list = [](const char* what, const std::vector<std::string>& v) {
        std::printf("%s:", what);
        for (const auto& n : v) std::printf(" %s", n.c_str());
        std::printf("\n");
      };
      list("added", r.added);
      list("removed", r.removed);
      list("changed", r.changed);
    } else if (a.command == "logs") {
      auto print = [](const std::string& line) {
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
        return !std::ferror(stdout);  // a closed pipe (| head) ends the follow
      };
      if (a.follow) c.follow(a.name, a.lines, a.err, print);
      else
        for (const auto& line : c.logs(a.name, a.lines, a.err)) print(line);
    }
    return 0;
  } catch (const services::ControlError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return static_cast<int>(e.code());
  }
}

}  // namespace

std::function<int()> add_ctl(CLI::App& app) {
  auto args = std::make_shared<CtlArgs>();
  auto* ctl = app.add_subcommand("ctl", "control a running kin supervise over its control socket");
  ctl->add_option("-c,--config", args->config, "the services.toml kin supervise runs (finds its socket and key)");
  ctl->add_option("--socket", args->socket, "the control socket (default: from the file, or the default one)");
  ctl->add_option("--key", args->key, "the key file (default: beside the socket)");
  ctl->require_subcommand(1);
  auto* status = ctl->add_subcommand("status", "NAME STATE READY PID UPTIME RESTARTS LAST-EXIT CPU% RSS");
  status->add_option("name", args->name, "a service, instance or group (default: all)");
  status->add_flag("--json", args->json, "the rows as JSON");
  for (const char* verb : {"start", "stop", "restart"})
    ctl->add_subcommand(verb, std::string{verb} + " a service, an instance, a group, or all")
        ->add_option("name", args->name, "a service, instance, group or all")
        ->required();
  auto* logs = ctl->add_subcommand("logs", "an instance's log tail");
  logs->add_option("name", args->name, "the instance")->required();
  logs->add_flag("-f,--follow", args->follow, "keep printing new lines");
  logs->add_option("-n,--lines", args->lines, "how many lines (default 10)");
  logs->add_flag("--err", args->err, "the stderr log");
  ctl->add_subcommand("reload", "re-read the file and apply only the differences");
  ctl->add_subcommand("shutdown", "stop every service and kin supervise");
  return [args, ctl]() -> int {
    if (!*ctl) return -1;
    for (auto* sub : ctl->get_subcommands()) args->command = sub->get_name();
    return run(*args);
  };
}

}  // namespace kin::cli
