#include <kin/runtime/shm_ring.hpp>
#include <kin/runtime/fault_point.hpp>
#include <kin/runtime/process_table.hpp>
#include <kin/runtime/robust_mutex.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

namespace kin::detail {

constexpr std::size_t kHeaderBytes = 4096;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kRecordHeader = sizeof(std::uint32_t);
// Records at least this large pass fault points inside put and get (a test kills a process
// mid-copy there); a getenv is nothing beside copying them, and small records skip it.
constexpr std::size_t kFaultPointBytes = 64 * 1024;

// Where the ring lives in the file: its offset and its size, both in pages, packed into one
// 64-bit word so that a growth publishes its new ring with one atomic store.
struct RingLayout {
  std::uint64_t offset;    // bytes from the start of the file
  std::uint64_t capacity;  // bytes
  static RingLayout unpack(std::uint64_t w) { return {(w >> 32) * kPage, (w & 0xffffffffu) * kPage}; }
  [[nodiscard]] std::uint64_t pack() const { return ((offset / kPage) << 32) | (capacity / kPage); }
  bool operator==(const RingLayout&) const = default;
};

// One side's sole user (the producers' or the consumers'). While one thread alone puts (or
// gets), it is that side's owner and works without the side's robust mutex: it announces each
// operation in `active` and proceeds only if the side is not `shared`. Any other thread first
// takes the mutex, then marks the side shared and waits until the owner's operation in
// progress (if any) ends: a Dekker handshake (both seq_cst), so either the owner sees `shared`
// and backs off to the mutex, or the newcomer sees `active` and waits for it. A thread that
// then holds the mutex for kSoloStreak operations in a row, with nobody else using the side,
// becomes its owner again. An owner that dies inside an operation leaves `active` set: the
// waiter finds it dead (tid and start time, written under the mutex before the tid is
// published) and repairs the ring as for a holder of the mutex that died.
struct SoloSide {
  std::atomic<std::uint32_t> owner;   // tid of the sole user, 0 = none yet (written under the mutex)
  std::atomic<std::uint32_t> shared;  // 1: every user takes the mutex
  std::uint64_t owner_start;          // the owner's start time (process_start_time), under the mutex
  std::uint32_t streak_tid;           // who held the mutex last, and how many times in a row
  std::uint32_t streak;
};

// Producers and consumers each have their own robust mutex and their own cache lines: a put
// writes only the producers' lines, a get only the consumers' ones, and each reads the other's
// index only when its cached copy says the ring is full (or empty). So one producer and one
// consumer never contend, and several of either kind contend only among themselves. Each
// side's published index (which the other side polls) has its own line, apart from the
// owner's `active` word and count (written each operation, read by nobody else then) and from
// the mutex and the solo bookkeeping (which the owner does not touch).
struct ShmRingHeader {
  // Rarely written.
  std::atomic<std::uint64_t> layout;    // RingLayout::pack(): the one store that publishes a growth
  std::uint64_t maxsize;
  std::atomic<std::uint32_t> closed;
  std::atomic<std::uint32_t> dirty;     // a holder died: the next locker repairs (see repair)
  std::atomic<std::uint32_t> done_seq;  // futex: bumped when done_n reaches put_n
  // Producers' lock (put_mu guards tail and put_n for users other than the sole owner).
  alignas(64) RobustMutex put_mu;
  SoloSide put_solo;
  // The producers' private line: the sole producer writes it twice a put, nobody else reads
  // it then (a newcomer reads put_active once, qsize reads put_n).
  alignas(64) std::atomic<std::uint32_t> put_active;  // the sole producer is inside a put
  std::atomic<std::uint64_t> put_n;                   // records counted (bumped before the record is published)
  // What the consumers poll: the published index (and the futex they sleep on).
  alignas(64) std::atomic<std::uint64_t> tail;  // published bytes (monotonic)
  std::atomic<std::uint32_t> put_seq;           // futex: bumped after a put when getters sleep
  // JoinableQueue's count, apart: task_done() writes it from the consumers' side. The items
  // put but not yet done are put_n - done_n, so a put adds no atomic read-modify-write.
  alignas(64) std::atomic<std::uint64_t> done_n;  // task_done() calls
  // Consumers' lock.
  alignas(64) RobustMutex get_mu;
  SoloSide get_solo;
  alignas(64) std::atomic<std::uint32_t> get_active;  // the sole consumer is inside a get
  std::atomic<std::uint64_t> get_n;                   // records consumed
  alignas(64) std::atomic<std::uint64_t> head;        // consumed bytes (monotonic)
  std::atomic<std::uint32_t> get_seq;                 // futex: bumped after a get when putters sleep
  // Written only by a process about to sleep; read by the other side after each operation.
  alignas(64) std::atomic<std::uint32_t> getters_waiting;  // (a dead sleeper over-counts: harmless)
  std::atomic<std::uint32_t> putters_waiting;
};
static_assert(sizeof(ShmRingHeader) <= kHeaderBytes);

namespace {
constexpr int kPut = 1, kGet = 2, kBoth = 3;
// Mutex holdings in a row, by one thread with nobody else on its side, after which it becomes
// the side's sole owner again (a handover costs the newcomer one handshake, so a low number
// would only make two alternating users hand the side back and forth).
constexpr std::uint32_t kSoloStreak = 1024;

RobustMutex& mutex_of(ShmRingHeader* h, int side) { return side == kPut ? h->put_mu : h->get_mu; }
SoloSide& solo_of(ShmRingHeader* h, int side) { return side == kPut ? h->put_solo : h->get_solo; }
std::atomic<std::uint32_t>& active_of(ShmRingHeader* h, int side) {
  return side == kPut ? h->put_active : h->get_active;
}

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spin-then-park: a process whose peer is running sees the record (or the room) it waits for
// within a microsecond or two, far less than a futex sleep and wake-up (~70 µs on this VM
// class), so it polls first — pause instructions, then a few yields so a peer on the same core
// can run — and only then sleeps. The budget is fixed (a few µs of pauses, 20 yields): a
// stopped or slow peer costs a waiter that much CPU, then it parks.
class Spinner {
 public:
  /// False once the budget is spent (the caller parks).
  bool step() noexcept {
    if (n_ < kPauses) {
      cpu_relax();
    } else if (n_ < kPauses + kYields) {
      ::sched_yield();
    } else {
      return false;
    }
    ++n_;
    return true;
  }

 private:
  static constexpr int kPauses = 2000, kYields = 20;
  int n_ = 0;
};

template <class Ready>
bool spin_until(Ready ready) {
  for (Spinner s; !ready();)
    if (!s.step()) return ready();
  return true;
}

std::uint32_t my_tid() noexcept { return static_cast<std::uint32_t>(this_tid()); }

// This thread's start time, read from /proc once per thread (a fork child's thread has a new
// tid, so the cache is keyed by it).
std::uint64_t my_start_time() {
  thread_local std::uint32_t t_for = 0;
  thread_local std::uint64_t t_start = 0;
  if (t_for != my_tid()) {
    t_start = process_start_time(static_cast<std::int32_t>(my_tid()));
    t_for = my_tid();
  }
  return t_start;
}

bool past(Deadline d) { return d && std::chrono::steady_clock::now() >= *d; }
}  // namespace

// Called with `side`'s mutex held: makes this thread's holding exclusive against the side's
// sole owner (see SoloSide). The first user of a side becomes its owner; another one marks the
// side shared and waits out the owner's operation in progress, within `d`; a thread that holds
// the mutex kSoloStreak times in a row becomes the owner again.
ShmRing::Settled ShmRing::settle_solo(int side, Deadline d) {
  SoloSide& s = solo_of(hdr_, side);
  std::atomic<std::uint32_t>& active = active_of(hdr_, side);
  const std::uint32_t me = my_tid();
  const std::uint32_t owner = s.owner.load(std::memory_order_relaxed);
  auto become_owner = [&] {
    s.owner_start = my_start_time();
    s.owner.store(me, std::memory_order_release);
    s.shared.store(0, std::memory_order_release);
    s.streak = 0;
  };
  if (owner == me && s.shared.load(std::memory_order_relaxed) == 0) return Settled::ok;  // none in progress: it is here
  if (owner == 0) {
    become_owner();
    return Settled::ok;
  }
  if (s.shared.load(std::memory_order_relaxed) == 0) s.shared.store(1);  // seq_cst: the handshake
  Settled result = Settled::ok;
  for (std::uint32_t i = 0, busy; (busy = active.load()) != 0; ++i) {
    if (i < 2000) {
      cpu_relax();
      continue;
    }
    // The thread inside is the owner (whose start time is known) or, for a moment, a former
    // owner backing off (which changed nothing). Looked at once the spin is over, before the
    // deadline is, so that even a call that may not wait finds a dead owner, then every 16
    // naps (~1-2 ms).
    if ((i - 2000) % 16 == 0 &&
        process_is_dead(static_cast<std::int32_t>(busy), busy == s.owner.load(std::memory_order_relaxed) ? s.owner_start : 0)) {
      if (active.compare_exchange_strong(busy, 0) && busy == s.owner.load(std::memory_order_relaxed))
        result = Settled::owner_died;  // died inside an operation: repaired as a dead holder of the mutex
      continue;
    }
    if (past(d)) return Settled::timeout;
    ::usleep(50);
  }
  if (s.streak_tid == me) {
    if (++s.streak >= kSoloStreak && result == Settled::ok) become_owner();
  } else {
    s.streak_tid = me;
    s.streak = 1;
  }
  return result;
}

// The sole owner's side of the handshake: true when this thread may work on `side` now
// without the mutex (it must call leave_solo after). `active` holds the tid of the thread
// inside, claimed by compare-and-swap: a former owner that has not yet seen the handover
// (and backs off below) never overwrites the new owner's claim. Read after the claim:
// `shared` first, then `owner` (a newer owner's tid is published before its `shared` = 0).
bool ShmRing::enter_solo(int side) noexcept {
  SoloSide& s = solo_of(hdr_, side);
  const std::uint32_t me = my_tid();
  if (s.owner.load(std::memory_order_relaxed) != me || s.shared.load(std::memory_order_relaxed) != 0) return false;
  std::atomic<std::uint32_t>& active = active_of(hdr_, side);
  std::uint32_t idle = 0;
  if (!active.compare_exchange_strong(idle, me)) return false;  // seq_cst: the handshake
  if (s.shared.load() == 0 && s.owner.load() == me) return true;
  active.store(0, std::memory_order_release);
  return false;
}

void ShmRing::leave_solo(int side) noexcept { active_of(hdr_, side).store(0, std::memory_order_release); }

// The robust mutexes held for one operation — the producers', the consumers', or both (always
// taken in that order) — each within the caller's deadline, so a stopped holder delays a timed
// call only until its deadline. On entry it maps the ring's current layout and, if a holder
// died inside, takes both locks and repairs the ring; if either throws, the locks are released
// before the exception leaves, so a failure never wedges the queue.
class ShmRing::Locked {
 public:
  Locked(ShmRing& r, int sides, Deadline d) : r_(r), want_(sides) { relock(d); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;
  explicit operator bool() const noexcept { return held() != 0; }
  void unlock() noexcept {
    get_.unlock();
    put_.unlock();
  }
  bool relock(Deadline d) { return take(want_, d); }
  /// Adds the other side's lock to a held one (order: producers' before consumers').
  bool also(int sides, Deadline d) {
    const int held_now = held();
    if ((held_now | sides) == held_now) return true;
    if ((held_now & kGet) && (sides & kPut)) {  // would break the order: start again with both
      unlock();
      return take(kBoth, d);
    }
    return take(held_now | sides, d);
  }

 private:
  [[nodiscard]] int held() const noexcept { return (put_.owns() ? kPut : 0) | (get_.owns() ? kGet : 0); }
  RobustLock& lock_of(int side) noexcept { return side == kPut ? put_ : get_; }
  bool take(int sides, Deadline d) {
    const Deadline ld = lock_deadline(d);
    bool died = false;
    for (int side : {kPut, kGet}) {
      if (!(sides & side) || lock_of(side).owns()) continue;
      auto res = lock_of(side).lock(mutex_of(r_.hdr_, side), ld);
      if (res == LockResult::timeout) {
        unlock();
        return false;
      }
      died |= res == LockResult::owner_died;
      const Settled solo = r_.settle_solo(side, ld);
      if (solo == Settled::timeout) {
        unlock();
        return false;
      }
      died |= solo == Settled::owner_died;
    }
    if (died) r_.hdr_->dirty.store(1);
    try {
      r_.remap_if_grown(held());
      if (r_.hdr_->dirty.load() != 0) {
        if (held() != kBoth) return take_both_and_repair(d);
        r_.repair();
      }
    } catch (...) {
      unlock();
      throw;
    }
    return true;
  }
  bool take_both_and_repair(Deadline d) {
    if (get_.owns()) unlock();  // keep the order
    return take(kBoth, d);      // take() repairs once it holds both
  }
  // A call that may not wait ("nowait", or a deadline already past) still waits a moment for
  // the lock itself: running holders keep it for well under a microsecond, and reporting
  // Empty/Full because another process was mid-operation would be a spurious answer.
  static Deadline lock_deadline(Deadline d) {
    if (!d) return d;
    auto grace = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    return *d < grace ? Deadline{grace} : d;
  }
  ShmRing& r_;
  int want_;
  RobustLock put_;
  RobustLock get_;
};

namespace {

std::size_t page_round(std::size_t n) { return (n + kPage - 1) & ~(kPage - 1); }

// The file may reach `size` bytes without SIGXFSZ: RLIMIT_FSIZE is checked first and a
// shortfall is EFBIG, as write(2) reports it with the signal ignored.
void check_file_size_limit(std::uint64_t size) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && size > lim.rlim_cur)
    throw_errno("kin::Queue: the ring's file would pass RLIMIT_FSIZE", EFBIG);
}

// Sets the file's size to `size` and backs [offset, size) with memory now, so a shortage is an
// OSError here instead of SIGBUS at the first touch.
void size_and_reserve(int fd, std::uint64_t offset, std::uint64_t size) {
  check_file_size_limit(size);
  check(::ftruncate(fd, static_cast<off_t>(size)), "ftruncate");
  int rc = retry_eintr([&] { return ::fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(size - offset)); });
  if (rc != 0 && errno != EOPNOTSUPP) throw_errno("fallocate");
}

// Copies the ring bytes [from, to) of one ring into another, each position at pos % capacity
// of its ring (head and tail stay valid in the new ring unchanged).
void copy_between(const std::byte* src, std::size_t src_cap, std::byte* dst, std::size_t dst_cap, std::uint64_t from,
                  std::uint64_t to) {
  for (std::uint64_t pos = from; pos < to;) {
    const std::size_t s = pos % src_cap, d = pos % dst_cap;
    const std::size_t n = std::min<std::uint64_t>({to - pos, src_cap - s, dst_cap - d});
    std::memcpy(dst + d, src + s, n);
    pos += n;
  }
}

}  // namespace

std::shared_ptr<ShmRing> ShmRing::create(std::size_t maxsize, std::size_t capacity) {
  capacity = page_round(std::max<std::size_t>(capacity, kPage));
  if (capacity / kPage > 0xffffffffu) throw ValueError("kin::Queue: capacity over 16 TiB");
  unique_fd fd{check(::memfd_create("kin-queue", MFD_CLOEXEC), "memfd_create")};
  size_and_reserve(fd.get(), 0, kHeaderBytes + capacity);
  void* h = ::mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (h == MAP_FAILED) throw_errno("mmap");
  auto* hdr = static_cast<ShmRingHeader*>(h);
  hdr->put_mu.init();
  hdr->get_mu.init();
  hdr->layout = RingLayout{kHeaderBytes, capacity}.pack();
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
  if (static_cast<std::size_t>(st.st_size) < kHeaderBytes + kPage) throw ProtocolError("kin::Queue: not a queue segment");
  void* h = ::mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (h == MAP_FAILED) throw_errno("mmap");
  hdr_ = static_cast<ShmRingHeader*>(h);
  // The ring as published now, once for each side; each lock maps a newer one if a growth
  // published it since.
  try {
    map_view(put_view_);
    map_view(get_view_);
  } catch (...) {
    if (put_view_.ring != nullptr) ::munmap(put_view_.ring, put_view_.capacity);
    ::munmap(h, kHeaderBytes);
    throw;
  }
}

ShmRing::~ShmRing() {
  for (View* v : {&put_view_, &get_view_})
    if (v->ring != nullptr) ::munmap(v->ring, v->capacity);
  if (hdr_ != nullptr) ::munmap(hdr_, kHeaderBytes);
}

// Maps the published layout into `v` unless it is mapped there already.
void ShmRing::map_view(View& v) {
  RingLayout l = RingLayout::unpack(hdr_->layout.load());
  if (v.ring != nullptr && l == RingLayout{v.offset, v.capacity}) return;
  void* r = ::mmap(nullptr, l.capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), static_cast<off_t>(l.offset));
  if (r == MAP_FAILED) throw_errno("kin::Queue: mmap of the grown ring");
  if (v.ring != nullptr) ::munmap(v.ring, v.capacity);
  v = View{static_cast<std::byte*>(r), l.capacity, l.offset};
}

// Each side has its own view of the ring (the producers' under put_mu, the consumers' under
// get_mu), so a producer thread and a consumer thread of one process never remap under each other.
void ShmRing::remap_if_grown(int sides) {
  if (sides & kPut) map_view(put_view_);
  if (sides & kGet) map_view(get_view_);
}

void ShmRing::copy_in(const View& v, std::uint64_t pos, const void* src, std::size_t n) {
  std::size_t at = pos % v.capacity;
  std::size_t first = std::min(n, v.capacity - at);
  std::memcpy(v.ring + at, src, first);
  std::memcpy(v.ring, static_cast<const std::byte*>(src) + first, n - first);
}

void ShmRing::copy_out(const View& v, std::uint64_t pos, void* dst, std::size_t n) {
  std::size_t at = pos % v.capacity;
  std::size_t first = std::min(n, v.capacity - at);
  std::memcpy(dst, v.ring + at, first);
  std::memcpy(static_cast<std::byte*>(dst) + first, v.ring, n - first);
}

// Grows the ring so that `needed` more bytes fit; both locks are held. All or nothing for every
// observer: the new ring is a fresh region of the file after the current one, filled while the
// current one stays untouched, and published by one store of `layout`. head and tail do not
// change (each record sits at pos % capacity in either ring). Killed before that store, the old
// ring is intact and the region beyond it is trimmed by the next locker's repair; killed after
// it, the new ring is complete. A failure (ENOMEM, ENOSPC, EFBIG) before it throws with nothing
// changed.
void ShmRing::grow(std::size_t needed) {
  View& cur = put_view_;
  const std::uint64_t head = hdr_->head, tail = hdr_->tail;
  const std::size_t used = tail - head;
  const std::size_t cap = page_round(std::max<std::size_t>(cur.capacity * 2, used + needed));
  const RingLayout next{cur.offset + cur.capacity, cap};
  if (cap / kPage > 0xffffffffu || next.offset / kPage > 0xffffffffu) throw ValueError("kin::Queue: ring over 16 TiB");
  auto undo = [&] { (void)!::ftruncate(fd_.get(), static_cast<off_t>(cur.offset + cur.capacity)); };
  try {
    size_and_reserve(fd_.get(), next.offset, next.offset + next.capacity);
  } catch (...) {
    undo();
    throw;
  }
  fault_point("ring.grow.reserved");
  void* r = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), static_cast<off_t>(next.offset));
  if (r == MAP_FAILED) {
    int err = errno;
    undo();
    throw_errno("kin::Queue: mmap of the grown ring", err);
  }
  auto* ring = static_cast<std::byte*>(r);
  fault_point("ring.grow.mapped");
  const std::uint64_t mid = head + used / 2;
  copy_between(cur.ring, cur.capacity, ring, cap, head, mid);
  fault_point("ring.grow.half_copied");
  copy_between(cur.ring, cur.capacity, ring, cap, mid, tail);
  fault_point("ring.grow.copied");
  hdr_->layout.store(next.pack());  // publish: one store
  fault_point("ring.grow.published");
  ::munmap(cur.ring, cur.capacity);
  cur = View{ring, cap, next.offset};
  map_view(get_view_);
  release_old_rings();
}

// Every ring before the current one is dead once the current one is published (holders map the
// current one under their lock before they touch any record): give their memory back. Holders
// that still map an old one see zeros there, never read them, and remap at their next lock.
void ShmRing::release_old_rings() {
  const std::uint64_t current = RingLayout::unpack(hdr_->layout.load()).offset;
  if (current > kHeaderBytes)
    (void)::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(kHeaderBytes),
                      static_cast<off_t>(current - kHeaderBytes));
}

// A holder died while it held a lock; both are held now. head, tail and layout are each one
// store, so they are consistent; the item count is recounted from the records between head and
// tail; a growth the holder did not publish leaves file beyond the current ring, which is
// trimmed (and a growth it published but did not clean up leaves old rings, which are released).
void ShmRing::repair() {
  const View& v = get_view_;
  std::uint64_t pos = hdr_->head, tail = hdr_->tail, n = 0;
  while (pos + kRecordHeader <= tail) {
    std::uint32_t len;
    copy_out(v, pos, &len, kRecordHeader);
    pos += kRecordHeader + len;
    ++n;
  }
  hdr_->put_n.store(hdr_->get_n.load() + n);
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > v.offset + v.capacity)
    (void)!::ftruncate(fd_.get(), static_cast<off_t>(v.offset + v.capacity));
  release_old_rings();
  hdr_->dirty.store(0);
  wake_everyone();
}

// A sleeper may be waiting for a change nobody announced (a dead holder's, or close()).
void ShmRing::wake_everyone() {
  hdr_->put_seq.fetch_add(1);
  hdr_->get_seq.fetch_add(1);
  futex_wake(&hdr_->put_seq, -1);
  futex_wake(&hdr_->get_seq, -1);
}

// Room for a record of `need` bytes (bytes and items), judged first from this process's cached
// view of the consumers' line, which only ever understates the room. Called by the sole
// producer or under the producers' lock.
bool ShmRing::room_for(std::size_t need) {
  const std::uint64_t maxsize = hdr_->maxsize;
  const std::uint64_t tail = hdr_->tail.load(std::memory_order_relaxed);
  const std::uint64_t put_n = hdr_->put_n.load(std::memory_order_relaxed);
  if (tail - seen_head_ + need > put_view_.capacity) seen_head_ = hdr_->head.load(std::memory_order_acquire);
  if (maxsize != 0 && put_n - seen_get_n_ >= maxsize) seen_get_n_ = hdr_->get_n.load(std::memory_order_acquire);
  return tail - seen_head_ + need <= put_view_.capacity && (maxsize == 0 || put_n - seen_get_n_ < maxsize);
}

// A record is there: seen_tail_ never passes the real tail, so a cached value beyond head
// proves one. Called by the sole consumer or under the consumers' lock.
bool ShmRing::record_ready() {
  const std::uint64_t head = hdr_->head.load(std::memory_order_relaxed);
  if (seen_tail_ <= head) seen_tail_ = hdr_->tail.load(std::memory_order_acquire);
  return seen_tail_ > head;
}

bool ShmRing::put(std::span<const std::byte> payload, Deadline deadline) {
  if (payload.size() > 0xffffffffu) throw ValueError("kin::Queue::put: message over 4 GiB");
  const std::size_t need = kRecordHeader + payload.size();
  // The sole producer's path: no mutex; anything unusual (closed, full, too large for the
  // ring) goes the locked way below.
  if (enter_solo(kPut)) {
    const bool done = hdr_->closed.load(std::memory_order_relaxed) == 0 && room_for(need);
    if (done) write_record(payload);
    leave_solo(kPut);
    if (done) return true;
  }
  const std::uint64_t maxsize = hdr_->maxsize;
  for (;;) {
    Locked l{*this, kPut, deadline};
    if (!l) return false;
    auto room = [&] { return room_for(need); };
    if (hdr_->closed.load(std::memory_order_relaxed) != 0) throw ValueError("kin::Queue::put: the queue is closed");
    if (need > put_view_.capacity &&
        (maxsize == 0 || hdr_->put_n.load(std::memory_order_relaxed) - hdr_->get_n.load() < maxsize)) {
      // Larger than the ring: grow it, with the consumers' lock too, so that none reads the old
      // ring while it is replaced.
      if (!l.also(kGet, deadline)) return false;
      if (need > put_view_.capacity) grow(need);
    }
    if (room() || (!past(deadline) && spin_until(room))) {
      write_record(payload);
      return true;
    }
    if (past(deadline)) return false;
    hdr_->putters_waiting.fetch_add(1);
    const std::uint32_t seq = hdr_->get_seq.load();
    if (!room()) {  // still full after registering: a get from now on will wake us
      l.unlock();
      futex_wait(&hdr_->get_seq, seq, deadline);
    }
    hdr_->putters_waiting.fetch_sub(1);
  }
}

void ShmRing::write_record(std::span<const std::byte> payload) {
  const std::uint64_t tail = hdr_->tail.load(std::memory_order_relaxed);
  std::uint32_t len = static_cast<std::uint32_t>(payload.size());
  copy_in(put_view_, tail, &len, kRecordHeader);
  copy_in(put_view_, tail + kRecordHeader, payload.data(), payload.size() / 2);
  if (payload.size() >= kFaultPointBytes) fault_point("ring.put.half_copied");
  copy_in(put_view_, tail + kRecordHeader + payload.size() / 2, payload.data() + payload.size() / 2,
          payload.size() - payload.size() / 2);
  // Counted before it is published, so get_n never passes put_n; killed in between, the count
  // is one high until the next locker's repair.
  hdr_->put_n.store(hdr_->put_n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  hdr_->tail.store(tail + kRecordHeader + payload.size());  // publish: one store (seq_cst: see below)
  // Read after the publishing store (both seq_cst): a getter that registered before it is seen
  // here, one that registers after it sees the record.
  if (hdr_->getters_waiting.load() > 0) {
    hdr_->put_seq.fetch_add(1);
    futex_wake(&hdr_->put_seq, 1);
  }
}

// The sole consumer's path: spins (within the Spinner's budget, and not at all when the
// deadline has passed) for a record and takes it with `take`, without the mutex. False when
// the caller must go the locked way (not the owner, the side became shared, closed, or the
// spin ran out): the locked path parks then, without spinning again.
template <class Take>
bool ShmRing::solo_get(Deadline deadline, bool& spun, Take take) {
  if (!enter_solo(kGet)) return false;
  struct Leave {
    ShmRing* r;
    ~Leave() { r->leave_solo(kGet); }
  };
  for (Spinner spin;;) {
    {
      Leave leave{this};
      if (record_ready()) {
        take();
        return true;
      }
      if (hdr_->closed.load(std::memory_order_relaxed) != 0) return false;
    }
    if (past(deadline) || !spin.step()) {
      spun = true;
      return false;
    }
    if (!enter_solo(kGet)) return false;
  }
}

// Waits, holding the consumers' lock, until a record is there; false when the deadline passed
// first, and also (with `l` released) when it slept: the caller takes the lock again and looks.
ShmRing::Wait ShmRing::wait_for_record(Locked& l, Deadline deadline, bool spun) {
  auto ready = [&] { return record_ready(); };
  if (ready()) return Wait::ready;
  if (hdr_->closed.load() != 0) {
    if (ready()) return Wait::ready;  // published before the close
    throw EOFError("kin::Queue::get: the queue is closed and empty");
  }
  if (past(deadline)) return Wait::timeout;
  if (!spun && spin_until(ready)) return Wait::ready;
  hdr_->getters_waiting.fetch_add(1);
  const std::uint32_t seq = hdr_->put_seq.load();
  const bool now = ready() || hdr_->closed.load() != 0;
  if (!now) {  // still empty after registering: a put from now on will wake us
    l.unlock();
    futex_wait(&hdr_->put_seq, seq, deadline);
  }
  hdr_->getters_waiting.fetch_sub(1);
  return Wait::again;
}

void ShmRing::consume(std::uint32_t len) {
  const std::uint64_t head = hdr_->head.load(std::memory_order_relaxed);
  hdr_->head.store(head + kRecordHeader + len);  // consume: one store
  hdr_->get_n.store(hdr_->get_n.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  if (hdr_->putters_waiting.load() > 0) {
    hdr_->get_seq.fetch_add(1);
    futex_wake(&hdr_->get_seq, 1);
  }
}

// Every get: the sole consumer's lock-free path first, then the consumers' lock; `take` runs
// once, on a record that is there. False when the deadline passed first.
template <class Take>
bool ShmRing::get_by(Deadline deadline, Take take) {
  bool spun = false;
  if (solo_get(deadline, spun, take)) return true;
  for (;; spun = false) {
    Locked l{*this, kGet, deadline};
    if (!l) return false;
    Wait w = wait_for_record(l, deadline, spun);
    if (w == Wait::timeout) return false;
    if (w == Wait::again) continue;
    take();
    return true;
  }
}

std::optional<Bytes> ShmRing::get(Deadline deadline) {
  std::optional<Bytes> out;
  if (!get_by(deadline, [&] { out = take_record(); })) return std::nullopt;
  return out;
}

std::optional<Bytes> ShmRing::take_record() {
  const std::uint64_t head = hdr_->head.load(std::memory_order_relaxed);
  std::uint32_t len;
  copy_out(get_view_, head, &len, kRecordHeader);
  Bytes out(len);
  copy_out(get_view_, head + kRecordHeader, out.data(), len);
  if (len >= kFaultPointBytes) fault_point("ring.get.copied");
  consume(len);
  return out;
}

bool ShmRing::get_into(std::span<std::byte> out, Deadline deadline) {
  return get_by(deadline, [&] { take_record_into(out); });
}

void ShmRing::take_record_into(std::span<std::byte> out) {
  const std::uint64_t head = hdr_->head.load(std::memory_order_relaxed);
  std::uint32_t len;
  copy_out(get_view_, head, &len, kRecordHeader);
  if (len == out.size()) copy_out(get_view_, head + kRecordHeader, out.data(), len);
  consume(len);
  if (len != out.size())
    throw ProtocolError("kin::Queue::get: a record of " + std::to_string(len) + " bytes where " +
                        std::to_string(out.size()) + " were expected");
}

bool ShmRing::get_with(RecordReader read, void* ctx, Deadline deadline) {
  return get_by(deadline, [&] { take_record_with(read, ctx); });
}

void ShmRing::take_record_with(RecordReader read, void* ctx) {
  const std::uint64_t head = hdr_->head.load(std::memory_order_relaxed);
  std::uint32_t len;
  copy_out(get_view_, head, &len, kRecordHeader);
  struct Consume {
    ShmRing* r;
    std::uint32_t len;
    ~Consume() { r->consume(len); }
  };
  const std::size_t at = (head + kRecordHeader) % get_view_.capacity;
  if (at + len <= get_view_.capacity) {
    Consume done{this, len};
    read(ctx, std::span<const std::byte>(get_view_.ring + at, len));
  } else {  // wraps round the ring's end
    Bytes scratch(len);
    copy_out(get_view_, head + kRecordHeader, scratch.data(), len);
    Consume done{this, len};
    read(ctx, scratch);
  }
}

void ShmRing::close() {
  Locked l{*this, kBoth, std::nullopt};
  hdr_->closed.store(1);
  wake_everyone();
}

// The observers below read without a lock (Python calls qsize() approximate too), so a
// stopped or dying holder never blocks them.
bool ShmRing::closed() const { return hdr_->closed.load() != 0; }

// For kin::wait (actors/src/wait.cpp).
ShmRing::Doorbell ShmRing::doorbell() const noexcept { return {&hdr_->put_seq, &hdr_->getters_waiting}; }

std::size_t ShmRing::qsize() const {
  const std::uint64_t got = hdr_->get_n.load(), put = hdr_->put_n.load();
  return put > got ? put - got : 0;
}

std::size_t ShmRing::maxsize() const { return hdr_->maxsize; }

bool ShmRing::full() const { return hdr_->maxsize > 0 && qsize() >= hdr_->maxsize; }

std::size_t ShmRing::capacity() const { return RingLayout::unpack(hdr_->layout.load()).capacity; }

// JoinableQueue's count needs no lock: put_n - done_n items are unfinished, and a futex word
// is bumped when task_done() makes that zero. (put_n may be one high, for a producer killed
// between counting and publishing, until the next locker's repair recounts it.)
void ShmRing::task_done() {
  std::uint64_t n = hdr_->done_n.load();
  do {
    if (n >= hdr_->put_n.load()) throw ValueError("kin::JoinableQueue::task_done() called too many times");
  } while (!hdr_->done_n.compare_exchange_weak(n, n + 1));
  if (n + 1 >= hdr_->put_n.load()) {
    hdr_->done_seq.fetch_add(1);
    futex_wake(&hdr_->done_seq, -1);
  }
}

bool ShmRing::join(Deadline deadline) {
  for (;;) {
    std::uint32_t seq = hdr_->done_seq.load();
    if (hdr_->done_n.load() >= hdr_->put_n.load()) return true;
    if (past(deadline)) return false;
    futex_wait(&hdr_->done_seq, seq, deadline);
  }
}

}  // namespace kin::detail
