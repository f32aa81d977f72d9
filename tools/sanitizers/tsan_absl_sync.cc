// ThreadSanitizer builds only (INFUSION_SANITIZE=thread, scripts/sanitize.sh tsan): tells TSan
// about Abseil's synchronization, which Debian ships uninstrumented.
//
// absl::Mutex, CondVar and Notification are built on atomics and futexes inside
// libabsl_synchronization.so, where TSan sees neither; without help every field guarded by an
// absl::Mutex would be reported as a race. This file defines the same member functions in the
// test executable (which takes precedence over the shared library's, and is exported to it with
// -rdynamic), calls the library's own through dlsym(RTLD_NEXT), and adds the happens-before
// edges a mutex implies: release when it is unlocked (or waited on), acquire when it is locked
// (or the wait returns). It changes no behaviour.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

#define INFUSION_STRINGIFY2(x) #x
#define INFUSION_STRINGIFY(x) INFUSION_STRINGIFY2(x)

// The library's definition of `absl::<inline namespace>::<rest>` (`rest` mangled, after the
// namespaces; `konst` for a const member function).
void* Next(const char* rest, bool konst = false) {
  const std::string ns = INFUSION_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = std::string(konst ? "_ZNK4absl" : "_ZN4absl") +
                           std::to_string(ns.size()) + ns + rest;
  void* next = dlsym(RTLD_NEXT, name.c_str());
  if (next == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found\n", name.c_str());
    std::abort();
  }
  return next;
}

template <typename F>
F NextAs(const char* rest, bool konst = false) {
  return reinterpret_cast<F>(Next(rest, konst));
}

// absl evaluates a waiter's Condition inside the library, holding the mutex, on whichever thread
// holds it at the time (the waiter before it blocks, or one unlocking): the evaluation acquires
// what the mutex ordered before it and releases what its thread did before and during it.
struct GuardedCondition {
  const absl::Condition* cond;
  absl::Mutex* mu;
  static bool Eval(void* self) {
    auto* g = static_cast<GuardedCondition*>(self);
    __tsan_acquire(g->mu);
    const bool met = g->cond->Eval();
    __tsan_release(g->mu);
    return met;
  }
  absl::Condition Wrapped() { return absl::Condition(&GuardedCondition::Eval, this); }
};

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto next = NextAs<void (*)(Mutex*)>("5Mutex4LockEv");
  next(this);
  __tsan_acquire(this);
}

void Mutex::ReaderLock() {
  static auto next = NextAs<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  next(this);
  __tsan_acquire(this);
}

bool Mutex::TryLock() {
  static auto next = NextAs<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool locked = next(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static auto next = NextAs<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const bool locked = next(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static auto next = NextAs<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_release(this);
  next(this);
}

void Mutex::ReaderUnlock() {
  static auto next = NextAs<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  next(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static auto next = NextAs<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  GuardedCondition guarded{&cond, this};
  next(this, guarded.Wrapped());
  __tsan_acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto next =
      NextAs<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  GuardedCondition guarded{&cond, this};
  next(this, guarded.Wrapped());
  __tsan_acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto next = NextAs<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GuardedCondition guarded{&cond, this};
  const bool met = next(this, guarded.Wrapped(), timeout);
  __tsan_acquire(this);  // held either way
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto next = NextAs<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GuardedCondition guarded{&cond, this};
  const bool met = next(this, guarded.Wrapped(), deadline);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto next = NextAs<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GuardedCondition guarded{&cond, this};
  const bool met = next(this, guarded.Wrapped(), timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto next = NextAs<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GuardedCondition guarded{&cond, this};
  const bool met = next(this, guarded.Wrapped(), deadline);
  __tsan_acquire(this);
  return met;
}

// Await releases the mutex while it waits (the condition's evaluation releases first, above):
// what others wrote under it meanwhile is acquired.
void Mutex::Await(const Condition& cond) {
  static auto next = NextAs<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  GuardedCondition guarded{&cond, this};
  next(this, guarded.Wrapped());
  __tsan_acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto next = NextAs<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GuardedCondition guarded{&cond, this};
  const bool met = next(this, guarded.Wrapped(), timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static auto next = NextAs<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GuardedCondition guarded{&cond, this};
  const bool met = next(this, guarded.Wrapped(), deadline);
  __tsan_acquire(this);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  static auto next = NextAs<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  next(this, mu);
  __tsan_acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto next = NextAs<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool timed_out = next(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto next = NextAs<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  const bool timed_out = next(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

// A notification orders everything before Notify() before every wait that sees it.
void Notification::Notify() {
  static auto next = NextAs<void (*)(Notification*)>("12Notification6NotifyEv");
  __tsan_release(this);
  next(this);
}

void Notification::WaitForNotification() const {
  static auto next =
      NextAs<void (*)(const Notification*)>("12Notification19WaitForNotificationEv", true);
  next(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto next = NextAs<bool (*)(const Notification*, Duration)>(
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE", true);
  const bool notified = next(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static auto next = NextAs<bool (*)(const Notification*, Time)>(
      "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE", true);
  const bool notified = next(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
