// kin::SimpleQueue<T>: an unbounded process-shared FIFO with only put, get, empty and close
// (Python's multiprocessing.SimpleQueue).
#pragma once

#include <kin/queue.hpp>

namespace kin {

template <class T>
class SimpleQueue {
 public:
  void put(const T& v) { q_.put(v); }
  [[nodiscard]] T get() { return q_.get(); }
  [[nodiscard]] bool empty() const { return q_.empty(); }
  void close() { q_.close(); }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, SimpleQueue& x) {
    inspect(f, x.q_);
  }

 private:
  Queue<T> q_;
};

}  // namespace kin
