// Seed 002 §1.5: one process writes A, B, C to a Queue, another reads forever; the parent
// joins the writer, then has to terminate() the endless reader.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>

void writer(kin::Queue<std::string> q) {
  std::printf("Process to write: %d\n", ::getpid());
  std::mt19937 rng{std::random_device{}()};
  for (const char* value : {"A", "B", "C"}) {
    std::printf("Put %s to queue...\n", value);
    std::fflush(stdout);
    q.put(value);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
  }
}

void reader(kin::Queue<std::string> q) {
  std::printf("Process to read: %d\n", ::getpid());
  for (;;) {
    std::printf("Get %s from queue.\n", q.get().c_str());
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Queue<std::string> q;
  kin::Process pw{writer, q};
  kin::Process pr{reader, q};
  pw.start();
  pr.start();
  pw.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the reader print the last one
  pr.terminate();  // the reader loops forever: it can only be stopped
  pr.join();
  std::printf("reader exitcode %d\n", *pr.exitcode());
}
