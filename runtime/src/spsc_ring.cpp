// The shared-memory SPSC record ring: see kin/runtime/spsc_ring.hpp.
#include <kin/runtime/spsc_ring.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/futex.hpp>

#include <sched.h>

#include <cstring>
#include <new>

namespace kin::detail {

namespace {
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

SpscRing::SpscRing(void* mem, std::size_t capacity, bool init) {
  if (capacity < 256 || (capacity & (capacity - 1)) != 0)
    throw ValueError("kin::detail::SpscRing: the capacity must be a power of two, at least 256");
  h_ = static_cast<Header*>(mem);
  if (init) {
    new (h_) Header{};
    h_->tail.store(0, std::memory_order_relaxed);
    h_->head.store(0, std::memory_order_relaxed);
    h_->parked.store(0, std::memory_order_release);
  }
  data_ = static_cast<std::byte*>(mem) + kHeaderBytes;
  cap_ = capacity;
  // A view attached later starts where the ring is now (both sides' positions agree then).
  wpos_ = head_seen_ = last_ = h_->tail.load(std::memory_order_acquire);
  rpos_ = tail_seen_ = h_->head.load(std::memory_order_acquire);
}

std::byte* SpscRing::try_push(std::size_t n) noexcept {
  if (n > max_record()) return nullptr;
  const std::size_t need = rounded(n);
  const std::size_t off = static_cast<std::size_t>(wpos_ & (cap_ - 1));
  const std::size_t to_end = cap_ - off;
  const std::size_t total = need <= to_end ? need : to_end + need;  // a skip mark fills the end
  if (wpos_ + total - head_seen_ > cap_) {
    head_seen_ = h_->head.load(std::memory_order_acquire);
    if (wpos_ + total - head_seen_ > cap_) return nullptr;
  }
  if (need > to_end) {
    const std::uint32_t skip = kSkip;
    std::memcpy(data_ + off, &skip, sizeof skip);  // to_end >= 8: records are 8-byte multiples
    wpos_ += to_end;
  }
  std::byte* p = data_ + (wpos_ & (cap_ - 1));
  const auto len = static_cast<std::uint32_t>(n);
  std::memcpy(p, &len, sizeof len);
  last_ = wpos_;
  wpos_ += need;
  return p + kRecordHeader;
}

void SpscRing::shrink_last(std::size_t n) noexcept {
  std::byte* p = data_ + (last_ & (cap_ - 1));
  std::uint32_t len = 0;
  std::memcpy(&len, p, sizeof len);
  if (n >= len) return;
  len = static_cast<std::uint32_t>(n);
  std::memcpy(p, &len, sizeof len);
  wpos_ = last_ + rounded(n);
}

bool SpscRing::publish() noexcept {
  // seq_cst store then seq_cst load, against park()'s store then readable()'s load: one of
  // the two sides sees the other, so a parked consumer is never left asleep.
  h_->tail.store(wpos_, std::memory_order_seq_cst);
  if (h_->parked.load(std::memory_order_seq_cst) == 0) return false;
  return h_->parked.exchange(0, std::memory_order_seq_cst) != 0;
}

void SpscRing::wake() noexcept { futex_wake(&h_->parked, 1); }

std::size_t SpscRing::unreleased() const noexcept {
  return static_cast<std::size_t>(wpos_ - h_->head.load(std::memory_order_acquire));
}

std::span<const std::byte> SpscRing::front() noexcept {
  for (;;) {
    if (corrupt_) return {};
    if (rpos_ == tail_seen_) {
      tail_seen_ = h_->tail.load(std::memory_order_acquire);
      if (rpos_ == tail_seen_) return {};
    }
    // The producer is another process: everything it wrote is checked before use.
    if (tail_seen_ - rpos_ > cap_ || (rpos_ & 7) != 0) {
      corrupt_ = true;
      return {};
    }
    const std::size_t off = static_cast<std::size_t>(rpos_ & (cap_ - 1));
    std::uint32_t len = 0;
    std::memcpy(&len, data_ + off, sizeof len);
    if (len == kSkip) {
      rpos_ += cap_ - off;
      continue;
    }
    const std::size_t need = rounded(len);
    if (len > max_record() || need > cap_ - off || need > tail_seen_ - rpos_) {
      corrupt_ = true;
      return {};
    }
    return {data_ + off + kRecordHeader, len};
  }
}

void SpscRing::pop() noexcept {
  std::uint32_t len = 0;
  std::memcpy(&len, data_ + (rpos_ & (cap_ - 1)), sizeof len);
  rpos_ += rounded(len);
}

void SpscRing::release() noexcept { h_->head.store(rpos_, std::memory_order_release); }

bool SpscRing::readable() const noexcept { return h_->tail.load(std::memory_order_seq_cst) != rpos_; }

bool SpscRing::wait(std::chrono::nanoseconds spin) noexcept {
  // A short spin catches the next record of a stream for ~1 us; waking a sleeping process
  // costs tens of microseconds. Every 64 pauses the clock is read and the CPU offered to
  // anyone runnable.
  if (h_->tail.load(std::memory_order_acquire) != rpos_) return true;
  if (spin.count() > 0) {
    const auto until = std::chrono::steady_clock::now() + spin;
    for (unsigned i = 1;; ++i) {
      if (h_->tail.load(std::memory_order_acquire) != rpos_) return true;
      cpu_relax();
      if ((i & 63) == 0) {
        if (std::chrono::steady_clock::now() >= until) break;
        // Give the CPU to whoever is runnable (on two cores the producer may be waiting for it).
        sched_yield();
      }
    }
  }
  park();
  if (!readable()) futex_wait(&h_->parked, 1, Deadline{std::nullopt});
  unpark();
  return false;
}

void SpscRing::park() noexcept { h_->parked.store(1, std::memory_order_seq_cst); }
void SpscRing::unpark() noexcept { h_->parked.store(0, std::memory_order_relaxed); }

}  // namespace kin::detail
