// `kin`: the command line face of the runtime. `kin info` prints what this build of kin and
// this machine offer (the figures a bug report needs); `kin supervise FILE` runs a
// services.toml and `kin ctl` controls it (docs/services.md).
#include "ctl.hpp"
#include "node.hpp"
#include "supervise.hpp"

#include <kin/current_process.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/version.hpp>

#include <CLI/CLI.hpp>

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace {

void print_info() {
  utsname u{};
  ::uname(&u);
  const char* prefix = std::getenv("KIN_SHM_PREFIX");
  std::printf("kin %s\n", kin::version());
  std::printf("  kernel          %s %s (%s)\n", u.sysname, u.release, u.machine);
  std::printf("  usable cpus     %d of %d\n", kin::process_cpu_count(), kin::cpu_count());
  std::printf("  page size       %ld bytes\n", ::sysconf(_SC_PAGESIZE));
  std::printf("  start methods   fork, forkserver, spawn\n");
  std::printf("  max frame       %zu bytes (default)\n", kin::detail::kDefaultMaxFrame);
  std::printf("  shm prefix      %s\n", prefix != nullptr ? prefix : "kin_");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kin: Python's multiprocessing for C++20, built on actors", "kin"};
  app.set_version_flag("-V,--version", kin::version());
  app.require_subcommand(0, 1);
  auto* info = app.add_subcommand("info", "print this build's and this machine's facts");
  auto* sup = app.add_subcommand("supervise", "run the services of a services.toml in the foreground");
  std::string file, http;
  sup->add_option("file", file, "the services.toml")->required();
  sup->add_option("--http", http, "serve the dashboard on HOST:PORT (loopback unless a token file is set)");
  auto run_ctl = kin::cli::add_ctl(app);
  auto run_node = kin::cli::add_node(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // LSB: 2 is a bad usage
  }
  if (*sup) return kin::cli::supervise(file, http);
  if (int rc = run_ctl(); rc >= 0) return rc;
  if (int rc = run_node(); rc >= 0) return rc;
  if (*info || app.get_subcommands().empty()) print_info();
  return 0;
}
