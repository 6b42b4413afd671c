// The programs of examples/services/services.toml: a small producer/consumer system run by
// `kin supervise` (the README's second quick start). One binary, three roles:
//
//   services_demo broker SOCKET     serves a named job queue (a remote kin::Manager on a Unix
//                                   socket) and reports readiness with kin::notify_ready()
//   services_demo producer SOCKET   puts "job N" on the queue, ten a second
//   services_demo consumer SOCKET   takes jobs and prints them; now and then it crashes
//                                   (abort), and kin supervise restarts it
//
// When the broker goes, producers and consumers see kin::ManagerLost and exit 1; kin supervise
// restarts them after the broker is ready again (they depend on it).
#include <kin/kin.hpp>
#include <kin/manager.hpp>
#include <kin/notify_ready.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

namespace {

const char* key() {
  const char* k = std::getenv("DEMO_KEY");
  return k != nullptr ? k : "services-demo";
}

int broker(const std::string& socket) {
  ::unlink(socket.c_str());  // a socket file left by a broker that was killed
  kin::Manager::serve(kin::Address::unix_path(socket), key(), [](const kin::Address&) {
    std::printf("broker: serving\n");
    std::fflush(stdout);
    kin::notify_ready();
  });
  return 0;
}

int producer(const std::string& socket) {
  auto m = kin::Manager::connect(kin::Address::unix_path(socket), key());
  auto jobs = m.Queue<std::string>("jobs", 100);
  for (long n = 0;; ++n) {
    jobs.put("job " + std::to_string(n));
    if (n % 50 == 0) {
      std::printf("producer: %ld jobs sent\n", n);
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int consumer(const std::string& socket) {
  auto m = kin::Manager::connect(kin::Address::unix_path(socket), key());
  auto jobs = m.Queue<std::string>("jobs", 100);
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> die(1, 60);
  const char* instance = std::getenv("KIN_INSTANCE");
  for (;;) {
    std::string job = jobs.get();
    std::printf("consumer %s (pid %d): %s\n", instance != nullptr ? instance : "-", static_cast<int>(::getpid()),
                job.c_str());
    std::fflush(stdout);
    if (die(rng) == 1) {
      std::fprintf(stderr, "consumer %d: crashing on purpose\n", static_cast<int>(::getpid()));
      std::abort();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: services_demo broker|producer|consumer SOCKET\n");
    return 2;
  }
  const std::string role = argv[1], socket = argv[2];
  try {
    if (role == "broker") return broker(socket);
    if (role == "producer") return producer(socket);
    if (role == "consumer") return consumer(socket);
  } catch (const kin::ManagerLost& e) {
    std::fprintf(stderr, "%s: the broker is gone (%s)\n", role.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "services_demo: unknown role %s\n", role.c_str());
  return 2;
}
