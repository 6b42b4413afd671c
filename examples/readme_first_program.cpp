// The README's "A first program", kept here so every build compiles it.
#include <kin/kin.hpp>
#include <cstdio>

void produce(kin::Queue<int> q) {
  for (int i = 1; i <= 5; ++i) q.put(i * i);
  q.put(-1);                               // no more
}

int main(int argc, char** argv) {
  kin::init(argc, argv);                   // first line: dispatches spawned children
  kin::Queue<int> q;
  kin::Process producer{produce, q};
  producer.start();
  for (int x = q.get(); x != -1; x = q.get()) std::printf("got %d\n", x);
  producer.join();
}
