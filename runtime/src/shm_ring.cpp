#include <kin/runtime/shm_ring.hpp>
#include <kin/runtime/robust_mutex.hpp>
#include <kin/runtime/syscall.hpp>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>

namespace kin::detail {

constexpr std::size_t kHeaderBytes = 4096;
constexpr std::size_t kRecordHeader = sizeof(std::uint32_t);

struct ShmRingHeader {
  RobustMutex mu;                       // guards everything below
  std::atomic<std::uint32_t> put_seq;   // futex: bumped after each put (getters sleep on it)
  std::atomic<std::uint32_t> get_seq;   // futex: bumped after each get (putters sleep on it)
  std::atomic<std::uint32_t> done_seq;  // futex: bumped when unfinished reaches 0
  std::uint32_t getters_waiting;
  std::uint32_t putters_waiting;
  std::uint32_t closed;
  std::atomic<std::uint64_t> head;      // consumed bytes (monotonic)
  std::atomic<std::uint64_t> tail;      // published bytes (monotonic)
  std::uint64_t count;                  // records in [head, tail)
  std::uint64_t unfinished;             // put but not task_done (JoinableQueue)
  std::atomic<std::uint64_t> capacity;  // ring bytes (grows, never shrinks)
  std::uint64_t maxsize;
};
static_assert(sizeof(ShmRingHeader) <= kHeaderBytes);

// The robust mutex held for one operation; repairs the ring if a holder died inside.
class ShmRing::Locked {
 public:
  Locked(ShmRing& r, Deadline d) : r_(r) {
    auto res = r.hdr_->mu.lock(d);
    if (res == LockResult::timeout) return;
    held_ = true;
    r.remap_if_grown();
    if (res == LockResult::owner_died) r.repair();
  }
  ~Locked() {
    if (held_) r_.hdr_->mu.unlock();
  }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;
  explicit operator bool() const noexcept { return held_; }
  void unlock() {
    r_.hdr_->mu.unlock();
    held_ = false;
  }
  bool relock(Deadline d) {
    auto res = r_.hdr_->mu.lock(d);
    if (res == LockResult::timeout) return false;
    held_ = true;
    r_.remap_if_grown();
    if (res == LockResult::owner_died) r_.repair();
    return true;
  }

 private:
  ShmRing& r_;
  bool held_ = false;
};

namespace {

bool past(Deadline d) { return d && std::chrono::steady_clock::now() >= *d; }

std::size_t page_round(std::size_t n) { return (n + 4095) & ~std::size_t{4095}; }

}  // namespace

std::shared_ptr<ShmRing> ShmRing::create(std::size_t maxsize, std::size_t capacity) {
  capacity = page_round(std::max<std::size_t>(capacity, 4096));
  unique_fd fd{check(::memfd_create("kin-queue", MFD_CLOEXEC), "memfd_create")};
  check(::ftruncate(fd.get(), static_cast<off_t>(kHeaderBytes + capacity)), "ftruncate");
  void* h = ::mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (h == MAP_FAILED) throw_errno("mmap");
  auto* hdr = static_cast<ShmRingHeader*>(h);
  hdr->mu.init();
  hdr->capacity = capacity;
  hdr->maxsize = maxsize;
  ::munmap(h, kHeaderBytes);
  return attach(std::move(fd));
}

std::shared_ptr<ShmRing> ShmRing::attach(unique_fd fd) {
  return std::shared_ptr<ShmRing>(new ShmRing(std::move(fd)));
}

ShmRing::ShmRing(unique_fd fd) : fd_(std::move(fd)) {
  struct stat st {};
  check(::fstat(fd_.get(), &st), "fstat");
  if (static_cast<std::size_t>(st.st_size) < kHeaderBytes + 4096) throw ProtocolError("kin::Queue: not a queue segment");
  void* h = ::mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (h == MAP_FAILED) throw_errno("mmap");
  hdr_ = static_cast<ShmRingHeader*>(h);
  // The ring is mapped at the size the header announces; it only ever grows.
  mapped_ = hdr_->capacity.load();
  void* r = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), kHeaderBytes);
  if (r == MAP_FAILED) {
    ::munmap(h, kHeaderBytes);
    throw_errno("mmap");
  }
  ring_ = static_cast<std::byte*>(r);
}

ShmRing::~ShmRing() {
  if (ring_ != nullptr) ::munmap(ring_, mapped_);
  if (hdr_ != nullptr) ::munmap(hdr_, kHeaderBytes);
}

void ShmRing::remap_if_grown() {
  std::size_t cap = hdr_->capacity.load();
  if (cap == mapped_) return;
  void* r = ::mremap(ring_, mapped_, cap, MREMAP_MAYMOVE);
  if (r == MAP_FAILED) throw_errno("mremap");
  ring_ = static_cast<std::byte*>(r);
  mapped_ = cap;
}

void ShmRing::copy_in(std::uint64_t pos, const void* src, std::size_t n) {
  const std::size_t cap = mapped_;
  std::size_t at = pos % cap;
  std::size_t first = std::min(n, cap - at);
  std::memcpy(ring_ + at, src, first);
  std::memcpy(ring_, static_cast<const std::byte*>(src) + first, n - first);
}

void ShmRing::copy_out(std::uint64_t pos, void* dst, std::size_t n) const {
  const std::size_t cap = mapped_;
  std::size_t at = pos % cap;
  std::size_t first = std::min(n, cap - at);
  std::memcpy(dst, ring_ + at, first);
  std::memcpy(static_cast<std::byte*>(dst) + first, ring_, n - first);
}

// Grows the ring so that `needed` more bytes fit; live records are laid out again from 0.
void ShmRing::grow(std::size_t needed) {
  const std::uint64_t head = hdr_->head, tail = hdr_->tail;
  const std::size_t used = tail - head;
  const std::size_t cap = page_round(std::max<std::size_t>(mapped_ * 2, used + needed));
  Bytes live(used);
  copy_out(head, live.data(), used);
  check(::ftruncate(fd_.get(), static_cast<off_t>(kHeaderBytes + cap)), "ftruncate");
  hdr_->capacity = cap;
  remap_if_grown();
  std::memcpy(ring_, live.data(), used);
  hdr_->head = 0;
  hdr_->tail = used;
}

// A holder died while it held the lock: head and tail are each one store, so they are
// consistent; the item count is recounted from the records between them.
void ShmRing::repair() {
  std::uint64_t pos = hdr_->head, tail = hdr_->tail, n = 0;
  while (pos + kRecordHeader <= tail) {
    std::uint32_t len;
    copy_out(pos, &len, kRecordHeader);
    pos += kRecordHeader + len;
    ++n;
  }
  hdr_->count = n;
  // Wake everyone: a sleeper may be waiting for a change the dead holder never announced.
  hdr_->put_seq.fetch_add(1);
  hdr_->get_seq.fetch_add(1);
  futex_wake(&hdr_->put_seq, -1);
  futex_wake(&hdr_->get_seq, -1);
}

bool ShmRing::put(std::span<const std::byte> payload, Deadline deadline) {
  if (payload.size() > 0xffffffffu) throw ValueError("kin::Queue::put: message over 4 GiB");
  const std::size_t need = kRecordHeader + payload.size();
  Locked l{*this, std::nullopt};
  if (!l) return false;
  for (;;) {
    if (hdr_->closed) throw ValueError("kin::Queue::put: the queue is closed");
    const std::size_t used = hdr_->tail - hdr_->head;
    const bool item_room = hdr_->maxsize == 0 || hdr_->count < hdr_->maxsize;
    if (item_room && need > mapped_) grow(need);  // larger than the ring: make room for it
    if (item_room && used + need <= mapped_) break;
    if (past(deadline)) return false;
    ++hdr_->putters_waiting;
    std::uint32_t seq = hdr_->get_seq.load();
    l.unlock();
    futex_wait(&hdr_->get_seq, seq, deadline);
    l.relock(std::nullopt);
    --hdr_->putters_waiting;
  }
  std::uint32_t len = static_cast<std::uint32_t>(payload.size());
  copy_in(hdr_->tail, &len, kRecordHeader);
  copy_in(hdr_->tail + kRecordHeader, payload.data(), payload.size());
  hdr_->tail.store(hdr_->tail + need);  // publish: one store
  ++hdr_->count;
  ++hdr_->unfinished;
  hdr_->put_seq.fetch_add(1);
  if (hdr_->getters_waiting > 0) futex_wake(&hdr_->put_seq, 1);
  return true;
}

bool ShmRing::wait_for_record(Locked& l, Deadline deadline) {
  while (hdr_->count == 0) {
    if (hdr_->closed) throw EOFError("kin::Queue::get: the queue is closed and empty");
    if (past(deadline)) return false;
    ++hdr_->getters_waiting;
    std::uint32_t seq = hdr_->put_seq.load();
    l.unlock();
    // A short spin first: on a busy queue the next put is a few hundred ns away, much less
    // than a futex sleep and wake-up (~10 µs each way on this VM).
    for (int i = 0; i < 200 && hdr_->put_seq.load(std::memory_order_relaxed) == seq; ++i) std::this_thread::yield();
    futex_wait(&hdr_->put_seq, seq, deadline);
    l.relock(std::nullopt);
    --hdr_->getters_waiting;
  }
  return true;
}

void ShmRing::consume(std::uint32_t len) {
  hdr_->head.store(hdr_->head + kRecordHeader + len);  // consume: one store
  --hdr_->count;
  hdr_->get_seq.fetch_add(1);
  if (hdr_->putters_waiting > 0) futex_wake(&hdr_->get_seq, 1);
}

std::optional<Bytes> ShmRing::get(Deadline deadline) {
  Locked l{*this, std::nullopt};
  if (!l || !wait_for_record(l, deadline)) return std::nullopt;
  std::uint32_t len;
  copy_out(hdr_->head, &len, kRecordHeader);
  Bytes out(len);
  copy_out(hdr_->head + kRecordHeader, out.data(), len);
  consume(len);
  return out;
}

bool ShmRing::get_into(std::span<std::byte> out, Deadline deadline) {
  Locked l{*this, std::nullopt};
  if (!l || !wait_for_record(l, deadline)) return false;
  std::uint32_t len;
  copy_out(hdr_->head, &len, kRecordHeader);
  if (len == out.size()) copy_out(hdr_->head + kRecordHeader, out.data(), len);
  consume(len);
  if (len != out.size())
    throw ProtocolError("kin::Queue::get: a record of " + std::to_string(len) + " bytes where " +
                        std::to_string(out.size()) + " were expected");
  return true;
}

void ShmRing::close() {
  Locked l{*this, std::nullopt};
  hdr_->closed = 1;
  hdr_->put_seq.fetch_add(1);
  hdr_->get_seq.fetch_add(1);
  futex_wake(&hdr_->put_seq, -1);
  futex_wake(&hdr_->get_seq, -1);
}

bool ShmRing::closed() const { return hdr_->closed != 0; }

std::size_t ShmRing::qsize() const {
  Locked l{const_cast<ShmRing&>(*this), std::nullopt};
  return hdr_->count;
}

std::size_t ShmRing::maxsize() const { return hdr_->maxsize; }

bool ShmRing::full() const {
  Locked l{const_cast<ShmRing&>(*this), std::nullopt};
  return hdr_->maxsize > 0 && hdr_->count >= hdr_->maxsize;
}

std::size_t ShmRing::capacity() const { return hdr_->capacity.load(); }

void ShmRing::task_done() {
  Locked l{*this, std::nullopt};
  if (hdr_->unfinished == 0) throw ValueError("kin::JoinableQueue::task_done() called too many times");
  if (--hdr_->unfinished == 0) {
    hdr_->done_seq.fetch_add(1);
    futex_wake(&hdr_->done_seq, -1);
  }
}

bool ShmRing::join(Deadline deadline) {
  Locked l{*this, std::nullopt};
  if (!l) return false;
  while (hdr_->unfinished > 0) {
    if (past(deadline)) return false;
    std::uint32_t seq = hdr_->done_seq.load();
    l.unlock();
    futex_wait(&hdr_->done_seq, seq, deadline);
    l.relock(std::nullopt);
  }
  return true;
}

}  // namespace kin::detail
