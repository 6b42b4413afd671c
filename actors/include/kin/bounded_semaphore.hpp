// kin::BoundedSemaphore — a Semaphore whose release() past its initial value throws
// kin::ValueError (Python raises ValueError too). Same robustness as Semaphore.
#pragma once

#include <kin/semaphore.hpp>

namespace kin {

class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::uint32_t value = 1) : Semaphore(value, true) {}

  template <class Inspector>
  friend void inspect(Inspector& f, BoundedSemaphore& x) {
    inspect(f, static_cast<Semaphore&>(x));
  }
};

}  // namespace kin
