// Port of seed 004's producer/consumer on a Condition: two producers and one consumer share a
// bounded queue (10 slots) guarded by a kin::Condition. A producer that finds it full and a
// consumer that finds it empty wait() until the other side notify()s. Python's version runs
// forever, one step a second; this one makes 6 items per producer, one step every 0.1 s, and
// prints the same lines ("P1 put value P1 7 in queue", "C1 get value P1 : 7 from queue", ...).
#include <kin/condition.hpp>
#include <kin/lock.hpp>

#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>

int main() {
  constexpr std::size_t kCapacity = 10;
  constexpr int kPerProducer = 6;
  std::deque<std::string> q;
  kin::Condition con;
  kin::Lock writelock;
  auto say = [&](const std::string& s) {
    std::lock_guard g{writelock};
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
  };

  auto producer = [&](std::string name) {
    say("Producer " + name + " Started");
    std::mt19937 rng{std::random_device{}()};
    for (int made = 0; made < kPerProducer;) {
      std::unique_lock g{con};
      if (q.size() >= kCapacity) {
        say("Queue is full , producer wait");
        con.wait();
      } else {
        int value = std::uniform_int_distribution<int>{0, 10}(rng);
        say(name + " put value " + name + " " + std::to_string(value) + " in queue");
        q.push_back(name + " : " + std::to_string(value));
        ++made;
        con.notify();
        g.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  };
  auto consumer = [&](std::string name, int total) {
    say("Consumer " + name + " Started");
    for (int got = 0; got < total;) {
      std::unique_lock g{con};
      if (q.empty()) {
        say("Queue is empty , consumer wait");
        con.wait(std::chrono::seconds(5));
      } else {
        std::string value = q.front();
        q.pop_front();
        ++got;
        say(name + " get value " + value + " from queue");
        con.notify();
        g.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  };

  std::thread p1(producer, "P1");
  std::thread p2(producer, "P2");
  std::thread c1(consumer, "C1", 2 * kPerProducer);
  p1.join();
  p2.join();
  c1.join();
  return 0;
}
