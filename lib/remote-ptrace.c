/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Syscall injection with ptrace, the way CRIU's compel and gdb's "call" do
 * it, reduced to one syscall and never writing the target's memory:
 *
 *  1. pick one live thread (the mm is shared), check nobody traces it,
 *     PTRACE_SEIZE it, check through the pidfd that the pid still names the
 *     process we were given, PTRACE_INTERRUPT and wait for the trap. A
 *     signal-delivery-stop met on the way is let through with its own
 *     signal (so no signal is lost or changed) before the trap.
 *  2. save the registers and the signal mask, then block every signal but
 *     the synchronous ones, so no handler can run on our registers; pending
 *     and newly arriving signals stay queued, with their siginfo, until we
 *     restore the mask.
 *  3. a thread interrupted inside a blocking syscall that the kernel will
 *     restart (-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND,
 *     -ERESTART_RESTARTBLOCK) is resumed untouched with PTRACE_SYSCALL: the
 *     kernel applies its own restart (re-issue, or restart_syscall with the
 *     task's restart_block), and we catch it at syscall entry. Otherwise we
 *     point the thread at a `syscall` / `svc #0` instruction found in its
 *     vdso (or libc text) and catch the entry of that.
 *  4. at the entry stop, replace the syscall number and arguments with ours,
 *     run to the exit stop, read the result;
 *  5. restore the registers (for the restart case: those of the moment
 *     before the restarted syscall instruction, so it is issued again
 *     exactly as the kernel had prepared it), the signal mask, and detach.
 *     A group stop in force is re-entered by the kernel at detach.
 *
 * Every error path restores and detaches. No wait is unbounded: a thread
 * that stops making progress (a seccomp user-notification nobody answers)
 * or takes too long is interrupted, restored and detached (-ETIMEDOUT); one
 * that cannot even be interrupted (a killable-only wait) is parked, and
 * restored and detached once it stops (remote_drain()). A tenant's seccomp
 * filter on our call: ERRNO comes back as the call's errno; TRAP is -EPERM,
 * its SIGSYS taken away before the tenant's handler sees it; KILL_PROCESS is
 * -ESRCH; KILL_THREAD of a thread in a threaded process is -EPERM. A thread
 * that dies in our hands is not left a zombie of ours: its exit report is
 * consumed (which hands the exit to its parent) as soon as the kernel gives
 * it, for a leader only once its whole process is gone (remote_drain()).
 *
 * The tracer is the calling thread:
 * ptrace ties a tracee to one thread of the tracer. Both it and the traced
 * thread run SCHED_FIFO for the length of the injection where the kernel
 * allows it (sched_boost(): busy targets), the thread's own scheduling
 * attributes restored before the detach.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/ptrace.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "remote-internal.h"
#include "remote.h"
#include "sched-attr.h"

/* Deadlines (remote_set_timeouts()). Every wait for the tracee has both:
 * the stall one catches a thread that does not run (a seccomp
 * user-notification nobody answers, an uninterruptible sleep, a frozen
 * cgroup), the limit one a call that computes for too long. */
#define DEFAULT_STALL_NS (1000LL * 1000 * 1000)
#define DEFAULT_LIMIT_NS (30LL * 1000 * 1000 * 1000)
/* After a deadline, how long the interrupted thread has to reach a stop
 * before it is parked (see park()). */
#define ABANDON_GRACE_NS (100LL * 1000 * 1000)
#define MAX_PASSED_SIGNALS 64
#define SPIN_NS (30 * 1000)
#define D_STATE_PATIENCE_NS (50LL * 1000 * 1000)
#define MAX_DEFERRED_SIGNALS 8
#define MAX_CALL_RESTARTS 8

typedef enum StopKind {
	STOP_EVENT,   /* PTRACE_EVENT_STOP: interrupt trap or group stop */
	STOP_SYSCALL, /* syscall-entry or -exit stop (SIGTRAP | 0x80) */
	STOP_SIGNAL,  /* signal-delivery-stop */
	STOP_OTHER,   /* another PTRACE_EVENT_* we did not ask for */
} StopKind;

typedef struct Stop {
	StopKind kind;
	int sig;
} Stop;

typedef struct Tracee {
	int pidfd;
	pid_t pid; /* thread-group id */
	pid_t tid; /* the thread we trace */
	/* The test suite's own children: their exit status belongs to the
	 * caller's waitpid, so an exit seen here is left unreaped. */
	bool keep_zombie;
	bool dead;
	/* dead, and its exit report still ours to consume (see zombies) */
	bool exit_pending;
	bool mask_saved;
	bool regs_dirty;
	uint64_t saved_mask;
	RemoteRegs restore;
	/* An epoll wait our interrupt broke with EINTR, turned into a restart
	 * (restore); eintr_regs is what the thread would see otherwise, used
	 * when a signal is pending by the time we leave (its EINTR is due). */
	bool eintr_rewritten;
	RemoteRegs eintr_regs;
	void *extra;
	siginfo_t deferred[MAX_DEFERRED_SIGNALS];
	size_t n_deferred;
	int boost; /* 0, or BOOST_RT / BOOST_NICE: saved_sched is to be written back */
	SchedAttr saved_sched;
	int64_t limit_at; /* no wait goes past it (CLOCK_MONOTONIC ns) */
	int64_t stall_ns; /* nor on while the thread gets no CPU for this long */
	int detach_sig;	  /* stopped at the delivery of this signal: it is handed on at detach */
	int exit_sig;	  /* dead: the signal that killed the thread, 0 for an exit */
} Tracee;

static _Atomic int64_t stall_timeout_ns = DEFAULT_STALL_NS;
static _Atomic int64_t call_limit_ns = DEFAULT_LIMIT_NS;

/* Threads left traced by an injection we gave up on: they did not stop
 * even when interrupted (a killable-only wait, an uninterruptible sleep).
 * Each keeps what is needed to restore it; remote_drain() (and every
 * call on this thread: only the tracer thread can) puts them back and
 * detaches them once they stop. Unbounded: every one must get detached. */
static _Thread_local Tracee **parked;
static _Thread_local size_t n_parked, n_parked_alloc;

/* Dead leaders we still trace: one that dies while other threads of its
 * process live on (a KILL_THREAD filter, or the first to go of a killed
 * process) is reported to its tracer only once they are all gone, and its
 * parent cannot reap it before the tracer has consumed that report (nor
 * can a zombie be detached). So each is kept, with a pidfd that polls
 * readable once the report is there, until remote_drain() consumes it,
 * which passes the exit on to the parent. */
typedef struct Zombie {
	pid_t tid;
	int pidfd;
} Zombie;
static _Thread_local Zombie *zombies;
static _Thread_local size_t n_zombies, n_zombies_alloc;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int xptrace(int req, pid_t tid, void *addr, void *data)
{
	if (ptrace(req, tid, addr, data) < 0)
		return negative_errno();
	return 0;
}

/* Scheduling boost for the length of the injection: its three stop/resume
 * round trips cost a fair-class thread its turn behind every busy peer on a
 * saturated CPU (ms each); as SCHED_FIFO, tracer (priority 2, so the woken
 * tracee never preempts it) and tracee run at once. Where SCHED_FIFO is
 * refused (no RT budget in the cpu cgroup, RestrictRealtime=), nice -20;
 * real-time threads are left alone. The tracee gets its own attributes back
 * while still stopped, or as soon as the call has used BOOSTED_RUN_NS of CPU
 * (wait_stop()), so it never computes long at the expense of the node;
 * reset-on-fork keeps a child cloned before the trap unboosted. A tracer
 * that dies mid-injection leaves the tracee boosted, as it leaves its
 * registers: ptrace has no undo. */
#define TRACER_RT_PRIORITY 2
#define TRACEE_RT_PRIORITY 1
#define BOOSTED_RUN_NS (2LL * 1000 * 1000)

#define BOOST_RT 1
#define BOOST_NICE 2

/* BOOST_RT or BOOST_NICE (*ret_saved: the attributes to restore), 0 left
 * alone (real-time already), < 0 refused. */
static int sched_boost(pid_t tid, uint32_t priority, SchedAttr *ret_saved)
{
	SchedAttr a = {.size = sizeof(a)};
	if (syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0) < 0)
		return negative_errno();
	if (a.sched_policy != SCHED_OTHER && a.sched_policy != SCHED_BATCH && a.sched_policy != SCHED_IDLE)
		return 0;
	SchedAttr fifo = {
		.size = sizeof(fifo),
		.sched_policy = SCHED_FIFO,
		.sched_flags = SCHED_FLAG_RESET_ON_FORK,
		.sched_priority = priority,
	};
	if (syscall(SYS_sched_setattr, tid, &fifo, 0) == 0) {
		*ret_saved = a;
		return BOOST_RT;
	}
	log_debug_errno(negative_errno(), "remote: SCHED_FIFO for %d refused, trying nice -20: %m", (int)tid);
	SchedAttr nice = {
		.size = sizeof(nice),
		.sched_policy = SCHED_OTHER,
		.sched_flags = SCHED_FLAG_RESET_ON_FORK,
		.sched_nice = -20,
	};
	if (syscall(SYS_sched_setattr, tid, &nice, 0) < 0)
		return log_debug_errno(negative_errno(), "remote: nice -20 for %d refused: %m", (int)tid);
	*ret_saved = a;
	return BOOST_NICE;
}

static int sched_restore(pid_t tid, const SchedAttr *saved)
{
	SchedAttr a = *saved;
	a.size = sizeof(a);
	a.sched_flags &= SCHED_FLAG_RESET_ON_FORK; /* utilization clamps: never changed */
	/* The kernel takes sched_nice only with SCHED_OTHER or SCHED_BATCH: a
	 * SCHED_IDLE thread gets its nice back (after nice -20) on the way. */
	if (a.sched_policy == SCHED_IDLE) {
		SchedAttr fair = a;
		fair.sched_policy = SCHED_OTHER;
		if (syscall(SYS_sched_setattr, tid, &fair, 0) < 0)
			return log_debug_errno(negative_errno(),
					       "remote: restoring the nice of %d failed: %m", (int)tid);
	}
	if (syscall(SYS_sched_setattr, tid, &a, 0) < 0)
		return log_debug_errno(negative_errno(), "remote: restoring the scheduling of %d failed: %m",
				       (int)tid);
	return 0;
}

static int unboost(Tracee *t)
{
	if (!t->boost)
		return 0;
	int r = sched_restore(t->tid, &t->saved_sched);
	if (r < 0)
		return r;
	t->boost = 0;
	return 0;
}

/* CPU time the thread has run, from /proc/PID/task/TID/schedstat. */
static int thread_cpu_ns(const Tracee *t, uint64_t *ret)
{
	char path[64];
	_cleanup_free_ char *line = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)t->pid, (int)t->tid);
	int r = read_one_line(path, &line);
	if (r < 0)
		return r;
	line[strcspn(line, " ")] = '\0';
	return parse_u64(line, ret);
}

/* A thread group leader that died while other threads live on is not
 * reported to a tracer (nor reaped) until the whole group has exited: only
 * /proc tells. Records its exit signal. */
static bool zombie_leader(Tracee *t)
{
	if (t->tid != t->pid)
		return false;
	char path[64];
	_cleanup_free_ char *line = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)t->pid);
	if (read_one_line(path, &line) < 0)
		return false;
	const char *p = strrchr(line, ')');
	if (!p || p[1] != ' ' || (p[2] != 'Z' && p[2] != 'X'))
		return false;
	/* field 52, exit_code: the 50th after the state */
	p += 2;
	for (int i = 0; i < 49 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	unsigned code = 0;
	if (p && sscanf(p, "%u", &code) == 1 && (code & 0x7f) != 0)
		t->exit_sig = (int)(code & 0x7f);
	return true;
}

/* Between two looks at the tracee: sleep until the kernel's SIGCHLD for
 * its next stop or exit (ptrace_stop() notifies the tracer, whatever the
 * tracee's real parent) or the step, whichever comes first. Waking on the
 * event rather than on a short step matters when the tracee shares the
 * tracer's CPU (a fair-class tracee next to a real-time tracer): every
 * early wake-up of the tracer preempts it. SIGCHLD is blocked for the
 * wait (WaitSignals) so it is queued for sigtimedwait() rather than
 * dropped; the step still bounds every sleep, so a tracer whose SIGCHLD is
 * ignored or taken by another thread only reacts later. A short spin comes
 * first where the tracee is real-time: it then runs on another CPU and
 * stops within microseconds, sooner than a sleeping tracer wakes. */
typedef struct WaitSignals {
	bool tried, blocked;
	bool notified; /* SIGCHLD is neither ignored nor SA_NOCLDSTOP */
	bool watched;  /* the caller would see a SIGCHLD: a handler, or blocked */
	bool consumed; /* a SIGCHLD was taken: it may have been a child's */
	sigset_t old;
} WaitSignals;

/* The caller's mask back; a SIGCHLD we took is raised again for whoever
 * watches for it (a handler, or its own wait with SIGCHLD blocked): one
 * SIGCHLD too many is harmless, one too few could leave a child unreaped. */
static void wait_signals_restore(WaitSignals *w)
{
	if (!w->blocked)
		return;
	(void)sigprocmask(SIG_SETMASK, &w->old, NULL);
	if (w->consumed && w->watched)
		(void)kill(getpid(), SIGCHLD);
	w->blocked = false;
}

static void sigchld_set(sigset_t *ret)
{
	sigemptyset(ret);
	sigaddset(ret, SIGCHLD);
}

/* Returns at once during the spin, and once SIGCHLD is first blocked (a
 * stop before that had its signal dropped): the caller looks again. */
static void await_report(const Tracee *t, WaitSignals *w, unsigned *iter, int64_t start)
{
	unsigned i = (*iter)++;
	sigset_t chld;
	sigchld_set(&chld);

	if (t->boost == BOOST_RT && now_ns() - start < SPIN_NS)
		return;
	if (!w->tried) {
		struct sigaction sa;
		w->tried = true;
		w->blocked = sigprocmask(SIG_BLOCK, &chld, &w->old) >= 0;
		if (w->blocked && sigaction(SIGCHLD, NULL, &sa) >= 0) {
			w->notified = sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_NOCLDSTOP);
			w->watched = sigismember(&w->old, SIGCHLD) == 1 ||
				     (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
		}
		if (w->blocked)
			return;
	}
	long step = w->notified ? 1000 * 1000 : i < 64 ? 10 * 1000 : i < 512 ? 100 * 1000 : 1000 * 1000;
	struct timespec ts = {.tv_nsec = step};
	if (w->blocked) {
		if (sigtimedwait(&chld, NULL, &ts) == SIGCHLD)
			w->consumed = true;
	} else
		nanosleep(&ts, NULL);
}

/* Wait for the next report of t->tid: looks at it between sleeps that end
 * at its SIGCHLD (await_report()). No wait is unbounded: -ETIMEDOUT at t->limit_at, or once the thread has run
 * for no CPU time during t->stall_ns (read from schedstat every
 * CPU_CHECK_NS; without schedstat the wait's own length counts). A
 * SCHED_FIFO tracee is unboosted once it has run BOOSTED_RUN_NS of CPU in
 * the call (not at the first stop: that is user code). An exit is consumed
 * only where that is ours to do (we trace it and are not its real parent, so
 * the kernel passes it on to the parent), never reaped from under a parent;
 * a dead leader whose report the kernel holds back is left exit_pending. */
#define CPU_CHECK_NS BOOSTED_RUN_NS
static int wait_stop_signals(Tracee *t, bool first, WaitSignals *w, Stop *ret)
{
	int64_t start = now_ns(), progress_at = start, checked_at = start;
	uint64_t cpu_start = UINT64_MAX, cpu_seen = UINT64_MAX, cpu;
	for (unsigned iter = 0;;) {
		siginfo_t si = {};
		if (waitid(P_PID, (id_t)t->tid, &si, WEXITED | WSTOPPED | __WALL | WNOWAIT | WNOHANG) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD) {
				t->dead = true;
				return -ESRCH;
			}
			return negative_errno();
		}
		if (si.si_pid == 0) {
			int64_t now = now_ns();
			if (now >= t->limit_at)
				return -ETIMEDOUT;
			if (now - checked_at >= CPU_CHECK_NS) {
				checked_at = now;
				bool have = thread_cpu_ns(t, &cpu) >= 0;
				if (have && cpu != cpu_seen) {
					cpu_seen = cpu;
					progress_at = now;
				} else if (zombie_leader(t)) {
					t->dead = true;
					t->exit_pending = !t->keep_zombie;
					return -ESRCH;
				}
				if (now - progress_at >= t->stall_ns)
					return -ETIMEDOUT;
				if (!first && t->boost == BOOST_RT) {
					if (!have)
						(void)unboost(t);
					else if (cpu_start == UINT64_MAX)
						cpu_start = cpu;
					else if (cpu - cpu_start >= BOOSTED_RUN_NS)
						(void)unboost(t); /* on failure: again next time */
				}
			}
			await_report(t, w, &iter, start);
			continue;
		}
		if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
			t->dead = true;
			t->exit_sig = si.si_code == CLD_EXITED ? 0 : si.si_status;
			if (!t->keep_zombie) {
				siginfo_t si2 = {};
				(void)waitid(P_PID, (id_t)t->tid, &si2, WEXITED | __WALL | WNOHANG);
			}
			return -ESRCH;
		}
		/* a stop: consume it */
		siginfo_t si2 = {};
		if (waitid(P_PID, (id_t)t->tid, &si2, WSTOPPED | __WALL | WNOHANG) < 0)
			return negative_errno();
		int status = si.si_status;
		int sig = status & 0xff, event = (status >> 8) & 0xff;
		if (si.si_code != CLD_TRAPPED) /* CLD_STOPPED/CONTINUED: not for a tracer */
			*ret = (Stop){.kind = STOP_OTHER, .sig = sig};
		else if (event == PTRACE_EVENT_STOP)
			*ret = (Stop){.kind = STOP_EVENT, .sig = sig};
		else if (event != 0)
			*ret = (Stop){.kind = STOP_OTHER, .sig = sig};
		else if (sig == (SIGTRAP | 0x80))
			*ret = (Stop){.kind = STOP_SYSCALL, .sig = SIGTRAP};
		else
			*ret = (Stop){.kind = STOP_SIGNAL, .sig = sig};
		return 0;
	}
}

static int wait_stop(Tracee *t, bool first, Stop *ret)
{
	WaitSignals w = {};
	int r = wait_stop_signals(t, first, &w, ret);
	wait_signals_restore(&w);
	return r;
}

/* The deadlines of a wait starting now: the stall one, and the limit of the
 * whole injection (limit_ns from its start; 0 keeps the one in force). */
static void arm(Tracee *t, int64_t limit_ns)
{
	t->stall_ns = atomic_load(&stall_timeout_ns);
	if (limit_ns > 0)
		t->limit_at = now_ns() + limit_ns;
}

void remote_set_timeouts(uint64_t stall_usec, uint64_t limit_usec)
{
	atomic_store(&stall_timeout_ns, stall_usec > 0 ? (int64_t)MIN(stall_usec, (uint64_t)INT32_MAX) * 1000
						       : DEFAULT_STALL_NS);
	atomic_store(&call_limit_ns, limit_usec > 0 ? (int64_t)MIN(limit_usec, (uint64_t)INT32_MAX) * 1000
						    : DEFAULT_LIMIT_NS);
}

static int read_task_status(pid_t pid, pid_t tid, RemoteTaskStatus *ret)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	if (tid == pid)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	int r = read_full_file(path, 64 * 1024, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	return remote_parse_status(text, ret);
}

static bool state_alive(char s)
{
	return s != 'Z' && s != 'X' && s != 'x';
}

/* Unboosted, sleeping (or stopped) threads are the cheap ones to borrow: a
 * thread stopped while it was running carries negative scheduler lag, and
 * on a saturated CPU EEVDF makes it wait for all its peers before it may
 * run again, at each of our resumes (tens of ms with 20 spinning threads on
 * 2 CPUs). A sleeper is eligible at once. Boosted (SCHED_FIFO, see
 * sched_boost()), any thread runs at once, and looking for a sleeper costs
 * more (a status read per thread, ~20 µs each) than it saves. */
static bool state_quiet(char s)
{
	return s == 'S' || s == 'T' || s == 't';
}

#define MAX_THREADS_SCANNED 64

/* The thread to trace: the leader when it sleeps (or, !prefer_sleeper,
 * runs), else a sleeping thread, else the leader, else (a zombie leader: it
 * called pthread_exit) any live thread. Never one in an uninterruptible
 * sleep ('D': I/O, a vfork parent waiting for its child): PTRACE_INTERRUPT
 * cannot stop it until it wakes, and a tracee that is not stopped cannot
 * be detached; -EAGAIN when that is all there is. A debugger on the leader
 * makes the whole process busy. */
static int pick_thread(pid_t pid, bool prefer_sleeper, pid_t *ret_tid, RemoteTaskStatus *ret_status)
{
	RemoteTaskStatus st, leader;
	int r = read_task_status(pid, pid, &leader);
	if (r < 0)
		return r;
	/* Still ours: it died in our hands and we are its parent, so it waits
	 * for our own waitpid(), traced. (A thread parked by an injection we
	 * gave up on is "busy" below until remote_drain() gets it.) */
	if (leader.tracer_pid == (pid_t)syscall(SYS_gettid) && !state_alive(leader.state))
		return -ESRCH;
	if (leader.tracer_pid != 0 ||
	    (state_alive(leader.state) &&
	     (state_quiet(leader.state) || (!prefer_sleeper && leader.state != 'D')))) {
		*ret_tid = pid;
		*ret_status = leader;
		return 0;
	}

	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : negative_errno();
	pid_t any = 0;
	RemoteTaskStatus any_st = {};
	bool uninterruptible = leader.state == 'D';
	unsigned scanned = 0;
	r = -ESRCH;
	for (struct dirent *de; (de = readdir(d)) && scanned < MAX_THREADS_SCANNED;) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		if (*end || tid <= 0 || tid == pid)
			continue;
		scanned++;
		if (read_task_status(pid, (pid_t)tid, &st) < 0 || !state_alive(st.state))
			continue;
		if (st.state == 'D') {
			uninterruptible = true;
			continue;
		}
		if (state_quiet(st.state)) {
			*ret_tid = (pid_t)tid;
			*ret_status = st;
			r = 0;
			break;
		}
		if (any == 0) {
			any = (pid_t)tid;
			any_st = st;
		}
	}
	closedir(d);
	if (r == 0)
		return 0;
	if (state_alive(leader.state) && leader.state != 'D') {
		*ret_tid = pid;
		*ret_status = leader;
		return 0;
	}
	if (any != 0) {
		*ret_tid = any;
		*ret_status = any_st;
		return 0;
	}
	return uninterruptible ? -EAGAIN : -ESRCH;
}

/* Still the process the pidfd names, and tid still one of its threads? */
static int check_identity(const Tracee *t)
{
	if (syscall(SYS_pidfd_send_signal, t->pidfd, 0, NULL, 0) < 0 && errno != EPERM)
		return errno == ESRCH ? -ESRCH : negative_errno();
	if (t->tid != t->pid && syscall(SYS_tgkill, t->pid, t->tid, 0) < 0 && errno != EPERM)
		return -ESRCH;
	return 0;
}

static int read_mem(pid_t tid, uint64_t addr, void *buf, size_t size, size_t *ret_read)
{
	struct iovec local = {.iov_base = buf, .iov_len = size};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = size};
	ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (n > 0) {
		*ret_read = (size_t)n;
		return 0;
	}
	/* execute-only text, or no process_vm_readv: the tracee is stopped,
	 * PEEKTEXT reads with FOLL_FORCE. */
	size_t done = 0;
	while (done < size) {
		errno = 0;
		long w = ptrace(PTRACE_PEEKTEXT, tid, (void *)(uintptr_t)(addr + done), NULL);
		if (errno != 0)
			break;
		size_t k = MIN(sizeof(w), size - done);
		memcpy((uint8_t *)buf + done, &w, k);
		done += k;
	}
	if (done == 0)
		return -EFAULT;
	*ret_read = done;
	return 0;
}

static int scan_range(pid_t tid, uint64_t start, uint64_t end, uint64_t *ret)
{
	enum {
		CHUNK = 64 * 1024
	};
	_cleanup_free_ uint8_t *buf = malloc(CHUNK + 16);
	if (!buf)
		return -ENOMEM;
	size_t overlap = remote_arch_syscall_insn_size - 1;
	for (uint64_t a = start; a < end; a += CHUNK) {
		size_t want = (size_t)MIN((uint64_t)CHUNK + overlap, end - a), got;
		if (read_mem(tid, a, buf, want, &got) < 0)
			return -ENOENT;
		if (remote_find_syscall_insn(buf, got, a, ret) >= 0)
			return 0;
		if (got < want)
			return -ENOENT;
	}
	return -ENOENT;
}

/* A syscall instruction already mapped executable in the target: the vdso
 * (from the auxv, no maps walk), else libc text, else any text. */
static int find_syscall_insn(const Tracee *t, uint64_t *ret)
{
	char path[64];
	uint64_t vdso;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)t->pid);
	_cleanup_free_ char *auxv = NULL;
	size_t auxv_size;
	if (read_full_file(path, 64 * 1024, &auxv, &auxv_size) >= 0 &&
	    remote_parse_auxv_vdso(auxv, auxv_size, &vdso) >= 0 &&
	    scan_range(t->tid, vdso, vdso + 64 * 1024, ret) >= 0)
		return 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
	_cleanup_free_ char *maps = NULL;
	r = read_full_file(path, 64 * 1024 * 1024, &maps, NULL);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	_cleanup_free_ RemoteExecRange *ranges = NULL;
	size_t n;
	r = remote_parse_maps_exec(maps, &ranges, &n);
	if (r < 0)
		return r == -ENOENT ? -ENOEXEC : r;
	uint64_t budget = 256ULL * 1024 * 1024;
	for (size_t i = 0; i < n && budget > 0; i++) {
		uint64_t end = MIN(ranges[i].end, ranges[i].start + budget);
		if (scan_range(t->tid, ranges[i].start, end, ret) >= 0)
			return 0;
		budget -= end - ranges[i].start;
	}
	return -ENOEXEC;
}

static bool signal_is_synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
	       sig == SIGSYS;
}

/* The kernel's sigset for PTRACE_[GS]ETSIGMASK is one 64-bit word. */
static uint64_t sigbit(int sig)
{
	return 1ULL << (sig - 1);
}

/* Restore registers and mask where we changed them, then detach; only valid
 * while the tracee sits in a ptrace stop. */
static int deliverable_signal_pending(pid_t pid, pid_t tid);

static int restore_and_detach(Tracee *t)
{
	int r = 0, k;
	if (t->dead)
		return -ESRCH;
	/* the mask first: with it in place, "is a signal due now" has its
	 * real meaning for the choice below */
	if (t->mask_saved) {
		k = xptrace(PTRACE_SETSIGMASK, t->tid, (void *)sizeof(t->saved_mask), &t->saved_mask);
		if (k < 0)
			r = k;
		else
			t->mask_saved = false;
	}
	if (t->eintr_rewritten && deliverable_signal_pending(t->pid, t->tid) != 0) {
		t->restore = t->eintr_regs;
		t->regs_dirty = true;
	}
	if (t->regs_dirty) {
		k = remote_arch_set_regs(t->tid, &t->restore);
		if (k < 0 && r == 0)
			r = k;
		else if (k == 0)
			t->regs_dirty = false;
	}
	if (t->extra) {
		k = remote_arch_extra_restore(t->tid, t->extra);
		if (k < 0 && r == 0)
			r = k;
	}
	k = xptrace(PTRACE_DETACH, t->tid, NULL, (void *)(uintptr_t)t->detach_sig);
	if (k < 0 && r == 0)
		r = k;
	return r;
}

/* From /proc/PID/task/TID/status: a signal pending (for the thread or the
 * process) that the thread's current mask lets through. 1 yes, 0 no, < 0
 * unknown (treated as yes by the callers: the conservative answer). */
static int deliverable_signal_pending(pid_t pid, pid_t tid)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	int r = read_full_file(path, 64 * 1024, &text, NULL);
	if (r < 0)
		return r;
	uint64_t pnd = 0, shd = 0, blk = 0;
	unsigned found = 0;
	for (const char *p = text; p && *p;) {
		const char *v;
		if ((v = startswith(p, "SigPnd:")))
			found |= sscanf(v, "%" SCNx64, &pnd) == 1 ? 1 : 0;
		else if ((v = startswith(p, "ShdPnd:")))
			found |= sscanf(v, "%" SCNx64, &shd) == 1 ? 2 : 0;
		else if ((v = startswith(p, "SigBlk:")))
			found |= sscanf(v, "%" SCNx64, &blk) == 1 ? 4 : 0;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (found != 7)
		return -EBADMSG;
	return ((pnd | shd) & ~blk) != 0;
}

/* Signals we had to take off the thread during the injection (only ones
 * sent by user space can get there: everything else was blocked) go back
 * to it, with their siginfo where the kernel lets us. */
static void redeliver_deferred(Tracee *t)
{
	for (size_t i = 0; i < t->n_deferred; i++) {
		siginfo_t *si = &t->deferred[i];
		int r;
		if (si->si_code < 0 && si->si_code != SI_TKILL)
			r = (int)syscall(SYS_rt_tgsigqueueinfo, t->pid, t->tid, si->si_signo, si);
		else
			r = (int)syscall(SYS_tgkill, t->pid, t->tid, si->si_signo);
		if (r < 0)
			log_debug("remote: re-sending signal %d to %d failed: %m", si->si_signo, (int)t->tid);
	}
	t->n_deferred = 0;
}

/* Resume with `req` and wait for the next syscall stop, dealing with what
 * may come first: a spurious interrupt trap or group stop (resume again),
 * SIGSTOP (let it through: it group-stops the process, which we resume past
 * as a debugger does; the kernel re-enters the stop when we detach), a
 * user-sent synchronous signal (keep it for later), a fault caused by our
 * own registers (abort). */
static int resume_until_syscall_stop(Tracee *t)
{
	int sig = 0;
	for (unsigned n = 0;; n++) {
		if (n > MAX_PASSED_SIGNALS * 4)
			return -ELOOP;
		int r = xptrace(PTRACE_SYSCALL, t->tid, NULL, (void *)(uintptr_t)sig);
		if (r < 0)
			return r;
		sig = 0;
		Stop s;
		r = wait_stop(t, false, &s);
		if (r < 0)
			return r;
		switch (s.kind) {
		case STOP_SYSCALL:
			return 0;
		case STOP_EVENT:
		case STOP_OTHER:
			continue;
		case STOP_SIGNAL: {
			siginfo_t si = {};
			if (xptrace(PTRACE_GETSIGINFO, t->tid, NULL, &si) < 0)
				si.si_signo = s.sig;
			if (!signal_is_synchronous(s.sig)) {
				sig = s.sig; /* SIGSTOP */
				continue;
			}
			if (si.si_code > 0 && si.si_code != SI_KERNEL)
				return s.sig == SIGSYS ? -EPERM : -EFAULT; /* ours: seccomp, a fault */
			if (t->n_deferred < MAX_DEFERRED_SIGNALS)
				t->deferred[t->n_deferred++] = si;
			continue;
		}
		}
	}
}

static int syscall_info_op(pid_t tid)
{
	struct ptrace_syscall_info info = {};
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof(info), &info);
	if (n < 0)
		return -1; /* pre-5.3: trust the entry/exit alternation */
	return info.op;
}

static int insn_at(pid_t tid, uint64_t addr)
{
	uint8_t buf[16];
	size_t got = 0;
	return read_mem(tid, addr, buf, remote_arch_syscall_insn_size, &got) >= 0 &&
	       got == remote_arch_syscall_insn_size &&
	       memcmp(buf, remote_arch_syscall_insn, remote_arch_syscall_insn_size) == 0;
}

static int first_stop(Tracee *t);

/* Start the thread at `regs` (a syscall instruction set up for the call)
 * and stop it at that call's entry; its registers there in *ret_entry. */
static int run_to_call_entry(Tracee *t, const RemoteRegs *regs, RemoteRegs *ret_entry)
{
	int r = remote_arch_set_regs(t->tid, regs);
	if (r < 0)
		return r;
	r = resume_until_syscall_stop(t);
	if (r < 0)
		return r;
	if (syscall_info_op(t->tid) == PTRACE_SYSCALL_INFO_EXIT)
		return -EPROTO;
	return remote_arch_get_regs(t->tid, ret_entry);
}

/* Step 1. In a syscall the kernel will restart? Let it restart it, with
 * the signal mask untouched: a signal pending now is delivered first,
 * exactly as without us (EINTR or restart, per its SA_RESTART), and we
 * start over at the trap behind it. 1: the thread sits at the entry of
 * the restarted call; 0: at the trap, with its registers in *ret_orig. */
static int let_restart_happen(Tracee *t, RemoteRegs *ret_orig)
{
	for (unsigned round = 0;; round++) {
		if (round > MAX_PASSED_SIGNALS)
			return -ELOOP;
		int r = remote_arch_get_regs(t->tid, ret_orig);
		if (r < 0)
			return r;
		if (!remote_arch_restart_pending(ret_orig, insn_at(t->tid, remote_arch_pc(ret_orig))))
			return 0;
		r = xptrace(PTRACE_SYSCALL, t->tid, NULL, NULL);
		if (r < 0)
			return r;
		Stop s;
		r = wait_stop(t, false, &s);
		if (r < 0)
			return r;
		if (s.kind == STOP_SYSCALL)
			return 1;
		if (s.kind == STOP_SIGNAL) {
			r = xptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
			if (r < 0)
				return r;
			r = xptrace(PTRACE_CONT, t->tid, NULL, (void *)(uintptr_t)s.sig);
			if (r < 0)
				return r;
			r = first_stop(t);
			if (r < 0)
				return r;
		}
		/* an interrupt trap or group stop: registers unchanged, again */
	}
}

/* Step 2. Save the mask and block every signal but the synchronous ones,
 * so no handler runs on our registers; the rest stay queued, siginfo and
 * all, until restore_and_detach() puts the mask back. */
static int block_signals(Tracee *t)
{
	int r = xptrace(PTRACE_GETSIGMASK, t->tid, (void *)sizeof(t->saved_mask), &t->saved_mask);
	if (r < 0)
		return r;
	uint64_t block = ~0ULL;
	for (int sig = 1; sig <= 64; sig++)
		if (signal_is_synchronous(sig) && !(t->saved_mask & sigbit(sig)))
			block &= ~sigbit(sig);
	r = xptrace(PTRACE_SETSIGMASK, t->tid, (void *)sizeof(block), &block);
	if (r < 0)
		return r;
	t->mask_saved = true;
	return 0;
}

/* Step 3a. At the entry of the restarted call (the re-issued one, or
 * restart_syscall for -ERESTART_RESTARTBLOCK): restoring "just before that
 * syscall instruction" re-issues it as the kernel prepared it; prctl and
 * madvise leave restart_block alone. */
static int enter_restarted_call(Tracee *t, RemoteRegs *ret_entry)
{
	if (syscall_info_op(t->tid) == PTRACE_SYSCALL_INFO_EXIT)
		return -EPROTO;
	int r = remote_arch_get_regs(t->tid, ret_entry);
	if (r < 0)
		return r;
	t->restore = *ret_entry;
	remote_arch_rewind_entry(&t->restore);
	t->regs_dirty = true;
	return 0;
}

/* Step 3b. Point the thread at a syscall instruction of its own text and
 * stop it at the entry of our call. rewound: the registers to restore
 * instead of orig, for an epoll wait our interrupt broke (see inject()). */
static int enter_injected_call(Tracee *t, const RemoteRegs *orig, const RemoteRegs *rewound, long nr,
			       const uint64_t args[6], RemoteRegs *ret_entry)
{
	uint64_t insn;
	int r = find_syscall_insn(t, &insn);
	if (r < 0)
		return r;
	r = remote_arch_extra_save(t->tid, &t->extra);
	if (r < 0)
		return r;
	t->restore = *orig;
	if (rewound) {
		t->eintr_regs = *orig;
		t->restore = *rewound;
		t->eintr_rewritten = true;
	}
	RemoteRegs call = *orig;
	remote_arch_setup_call(&call, insn, nr, args);
	t->regs_dirty = true;
	r = run_to_call_entry(t, &call, ret_entry);
	if (r < 0)
		return r;
	return remote_arch_entry_nr(ret_entry) == nr ? 0 : -EPROTO;
}

/* The thread's own pending signals (SigPnd: not the process-wide ones)
 * include SIGSYS? */
static bool seccomp_trap_pending(const Tracee *t)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)t->pid, (int)t->tid);
	if (read_full_file(path, 64 * 1024, &text, NULL) < 0)
		return false;
	const char *v = strstr(text, "\nSigPnd:");
	uint64_t pnd;
	return v && sscanf(v + strlen("\nSigPnd:"), "%" SCNx64, &pnd) == 1 && (pnd & sigbit(SIGSYS));
}

/* Our call met a SECCOMP_RET_TRAP filter: the kernel skipped it, rolled the
 * return register back to the syscall number (x86_64) or first argument
 * (aarch64) and queued a SIGSYS for the thread, which would reach the
 * tenant's handler (or kill it) about a call it never made. Take it at its
 * signal-delivery-stop, where the detach drops it: the thread resumes
 * inside the kernel's signal handling, before any instruction of its own. */
static int take_seccomp_trap(Tracee *t)
{
	int r = resume_until_syscall_stop(t);
	return r < 0 ? r : -EPROTO;
}

/* Step 4. From a syscall-entry stop, run nr(args) in place of that syscall
 * and read its result at the exit stop. A wait inside it (an unmerge
 * breaking COW pages, the mmap lock) ends early with -ERESTART* when a
 * trap of ours is still queued: then it is issued again from the same
 * instruction, a few times at most. */
static int run_call(Tracee *t, RemoteRegs *entry, long nr, const uint64_t args[6], int64_t *ret_value)
{
	uint64_t insn_pc = remote_arch_pc(entry) - remote_arch_syscall_insn_size;
	for (unsigned attempt = 0;; attempt++) {
		RemoteRegs exitr;
		int r = remote_arch_replace_syscall(t->tid, entry, nr, args);
		if (r < 0)
			return r;
		r = resume_until_syscall_stop(t);
		if (r < 0)
			return r;
		if (syscall_info_op(t->tid) == PTRACE_SYSCALL_INFO_ENTRY)
			return -EPROTO;
		r = remote_arch_get_regs(t->tid, &exitr);
		if (r < 0)
			return r;
		int64_t v = remote_arch_return_value(&exitr);
		if ((v == nr || v == (int64_t)args[0]) && seccomp_trap_pending(t))
			return take_seccomp_trap(t);
		if (!remote_is_restart_code(v) || attempt >= MAX_CALL_RESTARTS) {
			*ret_value = v;
			return 0;
		}
		remote_arch_setup_call(&exitr, insn_pc, nr, args);
		r = run_to_call_entry(t, &exitr, entry);
		if (r < 0)
			return r;
	}
}

/* The steps of the file's header comment, on a thread at its first stop.
 * Step 5, the restore, is finish()'s. */
static int inject(Tracee *t, long nr, const uint64_t args[6], int64_t *ret_value)
{
	RemoteRegs orig, entry, rewound;
	int r;

	r = let_restart_happen(t, &orig);
	if (r < 0)
		return r;
	bool piggyback = r > 0;

	/* An epoll wait without timeout that our interrupt broke: the kernel
	 * never restarts those (EINTR, as after SIGSTOP/SIGCONT), so unless a
	 * signal is due anyway (then EINTR is what the program gets without
	 * us too), put the thread back in front of its syscall instruction.
	 * Asked before block_signals(), under the thread's own mask. */
	bool eintr_restart = !piggyback && remote_arch_eintr_restartable(&orig, &rewound) &&
			     deliverable_signal_pending(t->pid, t->tid) == 0;

	r = block_signals(t);
	if (r < 0)
		return r;
	r = piggyback ? enter_restarted_call(t, &entry)
		      : enter_injected_call(t, &orig, eintr_restart ? &rewound : NULL, nr, args, &entry);
	if (r < 0)
		return r;
	return run_call(t, &entry, nr, args, ret_value);
}

/* Wait for the stop PTRACE_INTERRUPT asked for. A signal-delivery-stop
 * first is passed on unchanged (CRIU does the same) with another interrupt
 * queued behind it, so the thread handles that signal exactly as it would
 * have and then traps. */
static int first_stop(Tracee *t)
{
	for (unsigned n = 0;; n++) {
		Stop s;
		int r = wait_stop(t, true, &s);
		if (r < 0)
			return r;
		if (s.kind == STOP_EVENT)
			return 0;
		if (n >= MAX_PASSED_SIGNALS)
			return -ELOOP;
		int sig = s.kind == STOP_SIGNAL ? s.sig : 0;
		r = xptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
		if (r < 0)
			return r;
		r = xptrace(PTRACE_CONT, t->tid, NULL, (void *)(uintptr_t)sig);
		if (r < 0)
			return r;
	}
}

/* Consume the exit report of a dead thread we trace and are not the parent
 * of: the kernel passes the exit on to the parent then. True once done, or
 * when there is nothing of ours left to consume. */
static bool consume_exit(pid_t tid)
{
	siginfo_t si = {};
	int k;
	while ((k = waitid(P_PID, (id_t)tid, &si, WEXITED | __WALL | WNOHANG)) < 0 && errno == EINTR)
		;
	return k < 0 || si.si_pid != 0;
}

/* A dead leader whose report is held back (see zombies): consumed at once
 * if it is there, else kept for remote_drain(). Without memory or a pidfd
 * for that it stays ours until this thread exits, when the kernel passes
 * it on. */
static void pass_exit_on(Tracee *t)
{
	t->exit_pending = false;
	if (consume_exit(t->tid))
		return;
	if (n_zombies == n_zombies_alloc) {
		size_t n = MAX(n_zombies_alloc * 2, (size_t)16);
		Zombie *z = reallocarray(zombies, n, sizeof(*z));
		if (!z)
			goto fail;
		zombies = z;
		n_zombies_alloc = n;
	}
	/* our own pidfd: the caller's is closed once the call returns. The pid
	 * is not reused while we trace the zombie. */
	int fd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	if (fd < 0)
		goto fail;
	zombies[n_zombies++] = (Zombie){.tid = t->tid, .pidfd = fd};
	return;
fail:
	log_debug("remote: cannot keep dead %d until its exit is reported; it stays traced", (int)t->tid);
}

static void park(const Tracee *t);

/* Restore, detach, collect an exit that happened under us, give back the
 * signals we held. Returns the detach result. */
static int finish(Tracee *t)
{
	int k = -ESRCH;
	bool dying = false;
	if (!t->dead) {
		k = restore_and_detach(t);
		if (k == -ESRCH) {
			/* Killed under us: collect the exit report (it is held
			 * for the tracer; the parent hears of it once we have). */
			Stop s;
			arm(t, ABANDON_GRACE_NS);
			int w = wait_stop(t, false, &s);
			if (w >= 0)
				k = restore_and_detach(t);
			/* still on its way out (a big address space to tear
			 * down): its report must be consumed when it comes. Or
			 * not in a stop after all: one is asked for, to restore
			 * it at. Parked for either. */
			dying = w == -ETIMEDOUT;
			if (dying)
				(void)xptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
		}
		if (k < 0 && !t->dead)
			log_debug("remote: restoring and detaching %d failed: %s", (int)t->tid,
				  errno_name(k));
	}
	if (dying) {
		/* the copy owns extra (and the deferred signals) from here */
		park(t);
		t->extra = NULL;
		return k;
	}
	remote_arch_extra_free(t->extra);
	t->extra = NULL;
	if (!t->dead)
		redeliver_deferred(t);
	if (t->exit_pending)
		pass_exit_on(t);
	return t->dead ? -ESRCH : k;
}

/* At a stop met after we gave up on the call: can the thread be restored
 * and detached here? 0 yes; 1 no, it was resumed (a syscall-entry stop: the
 * syscall about to run, ours or the thread's own restarted one, is skipped
 * and the restored registers re-issue the latter); < 0 an error. At a
 * signal-delivery-stop the signal is handed on at detach (asynchronous:
 * only possible before block_signals()), kept for redelivery (synchronous,
 * sent by user space) or dropped (caused by our registers or our call). */
static int settle(Tracee *t, const Stop *s)
{
	if (s->kind == STOP_SYSCALL && syscall_info_op(t->tid) == PTRACE_SYSCALL_INFO_ENTRY) {
		static const uint64_t none[6] = {};
		RemoteRegs entry;
		int r = remote_arch_get_regs(t->tid, &entry);
		if (r < 0)
			return r;
		r = remote_arch_replace_syscall(t->tid, &entry, -1, none);
		if (r < 0)
			return r;
		r = xptrace(PTRACE_SYSCALL, t->tid, NULL, NULL);
		return r < 0 ? r : 1;
	}
	if (s->kind == STOP_SIGNAL) {
		siginfo_t si = {};
		if (xptrace(PTRACE_GETSIGINFO, t->tid, NULL, &si) < 0)
			si.si_signo = s->sig;
		if (!signal_is_synchronous(s->sig))
			t->detach_sig = s->sig;
		else if ((si.si_code <= 0 || si.si_code == SI_KERNEL) && t->n_deferred < MAX_DEFERRED_SIGNALS)
			t->deferred[t->n_deferred++] = si;
	}
	return 0;
}

/* A wait ran out: interrupt the thread (a seccomp user-notification wait,
 * an injected call's own interruptible wait end with -ERESTARTSYS and a
 * syscall-exit stop) and take the next stop where it can be restored.
 * -ETIMEDOUT: it did not stop within ABANDON_GRACE_NS either. */
static int stop_now(Tracee *t)
{
	int r = xptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
	if (r < 0)
		return r;
	arm(t, ABANDON_GRACE_NS);
	for (unsigned n = 0; n < MAX_PASSED_SIGNALS; n++) {
		Stop s;
		r = wait_stop(t, false, &s);
		if (r < 0)
			return r;
		r = settle(t, &s);
		if (r <= 0)
			return r;
	}
	return -ELOOP;
}

/* Keep a thread that will not stop, with all it takes to restore it, for
 * remote_drain(). Without memory for that it stays traced until
 * this thread exits, when the kernel detaches it unrestored. */
static void park(const Tracee *t)
{
	if (n_parked == n_parked_alloc) {
		size_t n = MAX(n_parked_alloc * 2, (size_t)16);
		Tracee **p = reallocarray(parked, n, sizeof(*p));
		if (!p)
			goto fail;
		parked = p;
		n_parked_alloc = n;
	}
	Tracee *c = malloc(sizeof(*c));
	if (!c)
		goto fail;
	*c = *t;
	parked[n_parked++] = c;
	return;
fail:
	log_debug("remote: no memory to park %d; it stays traced", (int)t->tid);
}

static int finish(Tracee *t);

/* One parked thread: true once it is restored and detached (or dead). */
static bool drain_one(Tracee *t)
{
	for (unsigned n = 0; n < MAX_PASSED_SIGNALS; n++) {
		Stop s;
		t->stall_ns = atomic_load(&stall_timeout_ns);
		t->limit_at = now_ns(); /* one look, no waiting */
		int r = wait_stop(t, false, &s);
		if (r == -ETIMEDOUT)
			return false;
		if (r >= 0)
			r = settle(t, &s);
		if (r > 0)
			continue;
		if (r < 0 && !t->dead)
			log_debug("remote: parked %d: %s", (int)t->tid, errno_name(r));
		(void)finish(t);
		return true;
	}
	return false;
}

int remote_drain(void)
{
	for (size_t i = 0; i < n_parked;) {
		if (drain_one(parked[i])) {
			free(parked[i]);
			parked[i] = parked[--n_parked];
		} else
			i++;
	}
	for (size_t i = 0; i < n_zombies;) {
		if (consume_exit(zombies[i].tid)) {
			safe_close(zombies[i].pidfd);
			zombies[i] = zombies[--n_zombies];
		} else
			i++;
	}
	return (int)MIN(n_parked, (size_t)INT_MAX);
}

size_t remote_drain_fds(int *fds, size_t max)
{
	for (size_t i = 0; i < n_zombies && i < max; i++)
		fds[i] = zombies[i].pidfd;
	return n_zombies;
}

static bool is_parked(pid_t pid)
{
	for (size_t i = 0; i < n_parked; i++)
		if (parked[i]->pid == pid)
			return true;
	return false;
}

/* Our thread died of SIGSYS: a seccomp filter killed the whole process
 * (the other threads are on their way out: the pidfd reads as exited within
 * moments) or only that thread (SECCOMP_RET_KILL_THREAD in a threaded
 * process: the call was refused, the process lives). */
static bool process_exits(const Tracee *t)
{
	struct pollfd p = {.fd = t->pidfd, .events = POLLIN};
	int n;
	while ((n = poll(&p, 1, 100)) < 0 && errno == EINTR)
		;
	return n != 0;
}

static int ptrace_syscall_at(int pidfd, pid_t pid, bool prefer_sleeper, long nr, const uint64_t args[6],
			     int64_t *ret_value)
{
	Tracee t = {.pidfd = pidfd, .pid = pid};
	RemoteTaskStatus st;
	int r, k;

	/* a thread of this process still stuck in an earlier call of ours:
	 * no second one (the daemon backs off) */
	if (remote_drain() > 0 && is_parked(pid))
		return -EBUSY;

	/* 'D' is mostly momentary (a page fault's I/O, mmap_lock, exit):
	 * look again for a little while before answering EAGAIN */
	int64_t until = now_ns() + D_STATE_PATIENCE_NS;
	while ((r = pick_thread(pid, prefer_sleeper, &t.tid, &st)) == -EAGAIN && now_ns() < until) {
		struct timespec ts = {.tv_nsec = 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (r < 0)
		return r;
	if (st.tracer_pid != 0)
		return -EBUSY;
	t.keep_zombie = t.tid == pid && st.ppid == getpid();

	if (ptrace(PTRACE_SEIZE, t.tid, NULL, (void *)(uintptr_t)PTRACE_O_TRACESYSGOOD) < 0) {
		r = negative_errno();
		if (r == -EPERM && read_task_status(pid, t.tid, &st) >= 0) {
			if (st.tracer_pid != 0)
				return -EBUSY;
			if (st.state == 'Z' || st.state == 'X')
				return -ESRCH;
		}
		return r;
	}

	/* Seized by tid: from here on every path ends in a detach (or the
	 * thread is dead, or parked). PTRACE_DETACH needs a stopped tracee, so
	 * even the "not ours after all" path interrupts first. */
	arm(&t, atomic_load(&call_limit_ns));
	int identity = check_identity(&t);
	if (identity >= 0) {
		int b = sched_boost(t.tid, TRACEE_RT_PRIORITY, &t.saved_sched);
		t.boost = b > 0 ? b : 0;
	}
	r = xptrace(PTRACE_INTERRUPT, t.tid, NULL, NULL);
	if (r == 0)
		r = first_stop(&t);
	if (r < 0)
		goto fail;
	/* Stopped: check again, the process cannot change under a stopped
	 * thread of it any more. */
	if (identity >= 0)
		identity = check_identity(&t);
	if (identity < 0) {
		r = identity;
		goto fail;
	}

	r = inject(&t, nr, args, ret_value);
fail:
	if (r == -ETIMEDOUT) {
		/* the tenant's scheduling back at once, stopped or not */
		(void)unboost(&t);
		k = stop_now(&t);
		if (k == -ETIMEDOUT) {
			log_debug("remote: %d does not stop; parked until it does", (int)t.tid);
			park(&t);
			return r;
		}
		if (k < 0 && !t.dead)
			log_debug("remote: interrupting %d after a timeout: %s", (int)t.tid, errno_name(k));
	}
	k = unboost(&t); /* still stopped: before the detach */
	int f = finish(&t);
	if (k >= 0 || k == -ESRCH)
		k = f;
	if (r >= 0 && k < 0)
		r = k == -ESRCH ? k : -EIO; /* ran, but we could not put it back */
	if (t.dead)
		return t.exit_sig == SIGSYS && !process_exits(&t) ? -EPERM : -ESRCH;
	return r;
}

int remote_ptrace_syscall(int pidfd, pid_t pid, long nr, const uint64_t args[6], int64_t *ret_value)
{
	SchedAttr saved;
	int boosted = sched_boost(0, TRACER_RT_PRIORITY, &saved);
	/* a tracer that is not real-time (refused, or only nice -20) does
	 * better with a sleeping thread than with a busy one */
	bool tracer_rt = boosted == BOOST_RT || boosted == 0;
	int r = ptrace_syscall_at(pidfd, pid, !tracer_rt, nr, args, ret_value);
	if (boosted > 0)
		(void)sched_restore(0, &saved);
	return r;
}
