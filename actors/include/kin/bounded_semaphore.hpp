// kin::BoundedSemaphore — a Semaphore whose release() past its initial value throws
// kin::ValueError (Python raises ValueError too). It counts exactly like Semaphore: a permit a
// process took and never gave back stays taken after its death (release it on its behalf if
// that is what the program means).
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
