// Seed 000 Pipe(): two processes on the two ends of one duplex Pipe; each sends and prints
// what it receives (func1 sends i, func2 sends i**2).
#include <kin/kin.hpp>

#include <cstdio>

void func1(kin::Connection<int> pipe) {
  for (int i = 0; i < 5; ++i) {
    pipe.send(i);
    std::printf("func1 receive: %d\n", pipe.recv());
    std::fflush(stdout);
  }
}

void func2(kin::Connection<int> pipe) {
  for (int i = 0; i < 5; ++i) {
    pipe.send(i * i);
    std::printf("func2 receive %d\n", pipe.recv());
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  auto [a, b] = kin::Pipe<int>();
  kin::Process p1{func1, a};
  kin::Process p2{func2, b};
  p1.start();
  p2.start();
  p1.join();
  p2.join();
}
