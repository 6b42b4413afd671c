#include <kin/current_process.hpp>

#include "process_globals.hpp"

#include <kin/runtime/auth.hpp>
#include <kin/runtime/reaper.hpp>

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>

namespace kin {

namespace detail {

ProcessGlobals& process_globals() {
  static auto* g = new ProcessGlobals;  // never destroyed: read from atexit handlers
  return *g;
}

const std::string& current_authkey() {
  // Made on first use, not at start: a program that never asks pays nothing (OpenSSL's RNG
  // set-up), and a child gets its key from the start request before anyone asks.
  static std::mutex mu;
  std::lock_guard g{mu};
  auto& key = process_globals().current.authkey;
  if (key.empty()) key = random_hex(32);  // Python's os.urandom(32)
  return key;
}

void flush_std_streams() {
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(nullptr);
}

void finish_children() {
  auto kids = running_children();
  for (auto& c : kids)
    if (c->daemon) signal_child(*c, SIGTERM);
  for (auto& c : kids) {
    if (!c->daemon) continue;
    if (!wait_child(*c, Deadline::after(std::chrono::seconds(1)))) {
      signal_child(*c, SIGKILL);
      wait_child(*c, Deadline::never());
    }
  }
  for (auto& c : kids)
    if (!c->daemon) wait_child(*c, Deadline::never());
  reap_finished();
}

}  // namespace detail

ProcessInfo current_process() {
  (void)detail::current_authkey();
  auto info = detail::process_globals().current;
  info.pid = ::getpid();
  return info;
}

std::optional<ProcessInfo> parent_process() { return detail::process_globals().parent; }

std::vector<ProcessInfo> active_children() {
  std::vector<ProcessInfo> out;
  for (auto& c : detail::running_children()) out.push_back(ProcessInfo{c->name, c->pid, c->daemon, {}});
  return out;
}

int cpu_count() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int process_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return cpu_count();  // more CPUs than a cpu_set_t holds, or no affinity to ask
}

void exit(int code) {
  if (detail::process_globals().in_kin_child) throw detail::ExitRequest{code};
  detail::flush_std_streams();
  std::exit(code);
}

}  // namespace kin
