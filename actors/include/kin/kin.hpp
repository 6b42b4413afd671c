// The umbrella header: everything a kin user needs. Prefer the single headers in large
// projects (each one is self-contained); this one is for quick starts and examples.
#pragma once

#include <kin/address.hpp>
#include <kin/codec.hpp>
#include <kin/message.hpp>
#include <kin/wait.hpp>
#include <kin/listener.hpp>
#include <kin/joinable_queue.hpp>
#include <kin/queue.hpp>
#include <kin/simple_queue.hpp>
#include <kin/connection.hpp>
#include <kin/pipe.hpp>
#include <kin/thread_queue.hpp>
#include <kin/context.hpp>
#include <kin/current_process.hpp>
#include <kin/init.hpp>
#include <kin/process.hpp>
#include <kin/process_info.hpp>
#include <kin/start_method.hpp>
#include <kin/errors.hpp>
#include <kin/version.hpp>

// Shared state and synchronization
#include <kin/array.hpp>
#include <kin/barrier.hpp>
#include <kin/bounded_semaphore.hpp>
#include <kin/condition.hpp>
#include <kin/event.hpp>
#include <kin/lock.hpp>
#include <kin/raw_array.hpp>
#include <kin/raw_value.hpp>
#include <kin/rlock.hpp>
#include <kin/semaphore.hpp>
#include <kin/shared_memory.hpp>
#include <kin/value.hpp>

// Threads and subprocess
#include <kin/popen.hpp>
#include <kin/run.hpp>
#include <kin/thread.hpp>
#include <kin/timer.hpp>

// Pools, executors and managers
#include <kin/async_result.hpp>
#include <kin/future.hpp>
#include <kin/manager.hpp>
#include <kin/pool.hpp>
#include <kin/pool_options.hpp>
#include <kin/process_pool_executor.hpp>
#include <kin/progress.hpp>
#include <kin/thread_pool.hpp>
#include <kin/thread_pool_executor.hpp>
