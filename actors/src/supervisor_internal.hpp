// Private to the supervisor (supervisor.cpp, supervisor_runs.cpp): the messages a child's run
// and the runtime thread send to the supervisor's actor. Each carries the child's id and the
// generation of its run, so a message from an earlier run of the same child is ignored.
#pragma once

#include <caf/atom.hpp>

namespace kin::detail {
using exited_atom = caf::atom_constant<caf::atom("kexited")>;     // (id, gen): the process ended
using ready_atom = caf::atom_constant<caf::atom("kready")>;       // (id, gen): a nested supervisor is up
using notify_atom = caf::atom_constant<caf::atom("knotify")>;     // (id, gen): $NOTIFY_SOCKET readable
using ready_fd_atom = caf::atom_constant<caf::atom("kreadyfd")>;  // (id, gen): the readiness fd readable
using ready_timeout_atom = caf::atom_constant<caf::atom("krdytmo")>;
using kill_timeout_atom = caf::atom_constant<caf::atom("kkilltmo")>;
using backoff_atom = caf::atom_constant<caf::atom("kbackoff")>;
using delay_atom = caf::atom_constant<caf::atom("kdelay")>;
using reap_atom = caf::atom_constant<caf::atom("kreap")>;
using probe_done_atom = caf::atom_constant<caf::atom("kprobed")>;  // (id, gen): the exec probe ended
using probe_atom = caf::atom_constant<caf::atom("kprobe")>;     // (id, gen): try tcp/http readiness again
using output_lost_atom = caf::atom_constant<caf::atom("koutlost")>;  // (id, reason): a log pump drops output
}  // namespace kin::detail
