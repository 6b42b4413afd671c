// fault_point(name): a named step inside an operation whose crash safety kin promises (the
// Queue's ring growth, for one), where a test can kill the process at exactly that step. When
// the environment variable KIN_FAULT_AT equals `name`, the process SIGKILLs itself there;
// otherwise nothing happens (one getenv, so only rare paths carry fault points).
//
//   fault_point("ring.grow.copied");   // a child with KIN_FAULT_AT=ring.grow.copied dies here
//
// The test sets the variable in a forked child just before the operation and checks what the
// survivors see. The names in use are listed where each operation is documented
// (docs/channels.md for the ring).
#pragma once

namespace kin::detail {

void fault_point(const char* name) noexcept;

}  // namespace kin::detail
